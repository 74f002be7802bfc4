// The realtime module's own view of itself (rt.debug()): connection state,
// every channel with its join status, how many components share it, its
// event count and last events, and the module's log. The seed's 10.2 aid,
// without the console.
import { useEffect, useState } from 'react'
import { clock } from '../lib/format.js'

export function DebugPanel({ rt }) {
  const [snap, setSnap] = useState(() => rt?.debug())

  useEffect(() => {
    if (!rt) return undefined
    setSnap(rt.debug())
    // Events can come in bursts: redraw at most four times a second.
    let timer = null
    const off = rt.onDebug(() => {
      if (timer) return
      timer = setTimeout(() => {
        timer = null
        setSnap(rt.debug())
      }, 250)
    })
    return () => {
      off()
      clearTimeout(timer)
    }
  }, [rt])

  if (!rt || !snap) return null
  return (
    <section className="debug-panel" data-testid="debug-panel" aria-label="Realtime debug panel">
      <h2>
        Realtime: <code data-testid="debug-state">{snap.state}</code>, {snap.channels.length} channel
        {snap.channels.length === 1 ? '' : 's'}
      </h2>
      <ul className="debug-channels">
        {snap.channels.map((c) => (
          <li
            key={c.topic}
            data-testid="debug-channel"
            data-topic={c.topic}
            data-status={c.status}
            data-refs={c.refs}
            data-resumes={c.resumes}
            data-rereads={c.rereads}
          >
            <code className="topic">{c.topic}</code>
            <div>
              {c.status}
              {c.ready !== undefined && (c.ready ? ` · ready (join ${c.joins ?? 1})` : ' · not ready')} · {c.refs} ref
              {c.refs === 1 ? '' : 's'} · {c.events} event{c.events === 1 ? '' : 's'}
            </div>
            {(c.position || c.resume) && (
              <div className="small">
                {c.position && (
                  <>
                    at <code>{c.position}</code>
                  </>
                )}
                {c.resume && <> · last rejoin {c.resume}</>} · resumed {c.resumes}, re-read {c.rereads}
              </div>
            )}
            {c.error && <div className="debug-error">{c.error}</div>}
            {(c.last || []).slice(-3).map((e, i) => (
              <div key={i} className="small debug-event">
                {clock(e.at)} {e.kind}: {e.summary}
              </div>
            ))}
          </li>
        ))}
      </ul>
      <details>
        <summary>Log ({snap.log.length})</summary>
        <ol className="debug-log small">
          {snap.log.slice(-40).map((l, i) => (
            <li key={i}>
              {new Date(l.at).toLocaleTimeString()} {l.text}
            </li>
          ))}
        </ol>
      </details>
    </section>
  )
}
