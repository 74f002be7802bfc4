// How fresh a live list is: loading, live, or stale with the reason (a
// refused join, a failed load). While the connection itself is down the
// header says so, and the list only says it shows the last data read.
import { useApp } from '../app-context.jsx'
import { useConnectionState } from '../hooks/useConnectionState.js'

export function LiveStatus({ snap }) {
  const { rt } = useApp()
  const conn = useConnectionState(rt)
  if (!snap) return null
  const { status, error } = snap
  const label = status === 'live' ? 'Live' : status === 'loading' ? 'Loading…' : 'Not live — showing the last data read'
  return (
    <span className={`live-status ${status}`} data-testid="list-status" data-status={status}>
      {label}
      {error && conn === 'live' && <span className="error small" data-testid="list-error"> ({error})</span>}
    </span>
  )
}
