// A channel of the realtime module for as long as the component is mounted.
// handlers may change every render: the channel calls the latest ones. A
// refused join (CHANNEL_ERROR) is returned as `error` with the server's reason
// and reported once in the app's error list. A CHANNEL_ERROR is also what a
// dropped socket gives every channel; the header's connection indicator
// tells that story, so an error counts as a refusal only if the connection
// is live and the channel still failed a moment later.
import { useEffect, useRef, useState } from 'react'
import { useApp } from '../app-context.jsx'

const REFUSAL_CHECK_MS = 1500

export function useChannel(topic, spec, handlers = {}) {
  const { rt, reportError } = useApp()
  const latest = useRef(handlers)
  latest.current = handlers
  const [handle, setHandle] = useState(null)
  const [status, setStatus] = useState('joining')
  const [error, setError] = useState(null)
  const specKey = spec ? JSON.stringify(spec) : null

  useEffect(() => {
    if (!rt || !topic || !specKey) return undefined
    setStatus('joining')
    setError(null)
    let check = null
    const h = rt.channel(topic, JSON.parse(specKey), {
      change: (c) => latest.current.change?.(c),
      broadcast: (e, p) => latest.current.broadcast?.(e, p),
      presence: (s) => latest.current.presence?.(s),
      status: (s, msg) => {
        setStatus(s)
        if (s === 'SUBSCRIBED') setError(null)
        if (s === 'CHANNEL_ERROR' && !check) {
          check = setTimeout(() => {
            check = null
            if (rt.state !== 'live' || h.status !== 'CHANNEL_ERROR') return
            const reason = h.error || msg || 'the server refused to join'
            setError(reason)
            reportError(new Error(reason), `Live updates for ${topic}`)
          }, REFUSAL_CHECK_MS)
        }
        latest.current.status?.(s, msg)
      },
    })
    setHandle(h)
    return () => {
      clearTimeout(check)
      h.release()
      setHandle(null)
    }
  }, [rt, topic, specKey, reportError])

  return { handle, status, error }
}
