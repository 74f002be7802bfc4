import { useConnectionState } from '../hooks/useConnectionState.js'

const LABELS = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline' }

export function ConnectionIndicator({ rt }) {
  const state = useConnectionState(rt)
  return (
    <span
      className={`conn conn-${state}`}
      data-testid="connection-state"
      data-state={state}
      role="status"
      title="Connection to live updates"
    >
      <span className="dot" aria-hidden="true" />
      {LABELS[state] || state}
    </span>
  )
}
