// pending → accepted → in progress → completed (or cancelled at the step it
// was cancelled from, as far as the booking's technician tells).
import { BOOKING_STEPS, short, statusLabel } from '../lib/format.js'

export function StatusTimeline({ booking }) {
  const status = booking.status
  let reached = BOOKING_STEPS.indexOf(status)
  const cancelled = status === 'cancelled'
  if (cancelled) reached = booking.technician_id ? 1 : 0
  return (
    <ol className="timeline" data-testid="status-timeline" data-status={status}>
      {BOOKING_STEPS.map((s, i) => {
        const state = i < reached ? 'done' : i === reached ? (cancelled ? 'done' : 'current') : 'todo'
        return (
          <li key={s} className={`step ${state}`} data-step={s} data-state={state}>
            <span className="mark" aria-hidden="true">{state === 'done' ? '✓' : i + 1}</span>
            <span className="label">{statusLabel(s)}</span>
            {i === 0 && <span className="small muted">{short(booking.created_at)}</span>}
            {state === 'current' && i > 0 && <span className="small muted">{short(booking.updated_at)}</span>}
          </li>
        )
      })}
      {cancelled && (
        <li className="step cancelled current" data-step="cancelled" data-state="current">
          <span className="mark" aria-hidden="true">✕</span>
          <span className="label">Cancelled</span>
          <span className="small muted">{short(booking.updated_at)}</span>
        </li>
      )}
    </ol>
  )
}

export function StatusBadge({ status, testid }) {
  return (
    <span className={`badge status-${status}`} data-testid={testid} data-status={status}>
      {statusLabel(status)}
    </span>
  )
}
