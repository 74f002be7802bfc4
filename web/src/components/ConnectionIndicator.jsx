import { useConnectionState, useResumeTotals } from '../hooks/useConnectionState.js'

const LABELS = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline' }

export function ConnectionIndicator({ rt }) {
  const state = useConnectionState(rt)
  // After a reconnect the lists either resume (the server replays what they
  // missed) or read again: counted over the session, shown on hover.
  const { resumes, rereads } = useResumeTotals(rt)
  return (
    <span
      className={`conn conn-${state}`}
      data-testid="connection-state"
      data-state={state}
      data-resumes={resumes}
      data-rereads={rereads}
      role="status"
      title={`Connection to live updates. Since sign-in: ${resumes} rejoin(s) resumed without reading again, ${rereads} list(s) read again.`}
    >
      <span className="dot" aria-hidden="true" />
      {LABELS[state] || state}
    </span>
  )
}
