// "X is typing…" over Presence on the private channel typing:<booking> (only
// the booking's customer, its technician and admins may join). Each side
// tracks { user_id, name, typing }; while keys are pressed it re-tracks
// typing:true at most every 2 s, and typing:false 3 s after the last one.
// A typing:true not refreshed for 6 s is ignored (a tab that froze), and a
// party that leaves drops out of the presence state at once.
import { useCallback, useEffect, useRef, useState } from 'react'
import { useApp } from '../app-context.jsx'
import { useChannel } from './useChannel.js'

const STOP_AFTER_MS = 3000
const RESEND_MS = 2000
const STALE_MS = 6000

export function useTyping(bookingId, enabled = true) {
  const { uid, name } = useApp()
  const [others, setOthers] = useState({})
  const [now, setNow] = useState(() => Date.now())
  const mine = useRef({ typing: false, lastSent: 0, timer: null })

  const topic = bookingId && enabled && uid ? `typing:${bookingId}` : null
  const spec = topic ? { private: true, presence: { key: uid } } : null
  const { handle, status, error } = useChannel(topic, spec, {
    presence(state) {
      setOthers((prev) => {
        const next = {}
        for (const [key, metas] of Object.entries(state || {})) {
          if (key === uid || !Array.isArray(metas) || metas.length === 0) continue
          const typingMeta = metas.find((m) => m.typing) || metas[metas.length - 1]
          const ref = typingMeta.presence_ref ?? typingMeta.phx_ref ?? ''
          const old = prev[key]
          next[key] = {
            name: typingMeta.name || 'The other party',
            typing: !!typingMeta.typing,
            ref,
            seenAt: old && old.ref === ref ? old.seenAt : Date.now(),
          }
        }
        return next
      })
      setNow(Date.now())
    },
  })

  const send = useCallback(
    (typing) => {
      if (!handle || status !== 'SUBSCRIBED') return
      handle.track({ user_id: uid, name: name || 'Someone', typing }).catch(() => {})
    },
    [handle, status, uid, name],
  )

  // Be present (not typing) once joined.
  useEffect(() => {
    if (status === 'SUBSCRIBED') send(false)
  }, [status, send])

  useEffect(() => () => clearTimeout(mine.current.timer), [])

  const typers = Object.values(others).filter((o) => o.typing && now - o.seenAt < STALE_MS)

  // Re-render while someone types, so a stale typing:true disappears.
  useEffect(() => {
    if (typers.length === 0) return undefined
    const t = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(t)
  }, [typers.length])

  const notifyTyping = useCallback(() => {
    const m = mine.current
    const t = Date.now()
    if (!m.typing || t - m.lastSent > RESEND_MS) {
      m.typing = true
      m.lastSent = t
      send(true)
    }
    clearTimeout(m.timer)
    m.timer = setTimeout(() => {
      m.typing = false
      send(false)
    }, STOP_AFTER_MS)
  }, [send])

  const stopTyping = useCallback(() => {
    const m = mine.current
    clearTimeout(m.timer)
    if (m.typing) {
      m.typing = false
      send(false)
    }
  }, [send])

  return { typingNames: typers.map((o) => o.name), notifyTyping, stopTyping, status, error }
}
