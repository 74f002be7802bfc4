import { money, when } from '../lib/format.js'

export function BookingDetails({ booking, people = [] }) {
  return (
    <dl className="details" data-testid="booking-details">
      {booking.description && (
        <>
          <dt>Description</dt>
          <dd>{booking.description}</dd>
        </>
      )}
      <dt>Address</dt>
      <dd>{booking.address || '—'}</dd>
      <dt>Scheduled</dt>
      <dd>{when(booking.scheduled_at)}</dd>
      <dt>{booking.status === 'pending' ? 'Budget' : 'Price'}</dt>
      <dd data-testid="booking-price">{money(booking.price)}</dd>
      {people.map(([label, p]) =>
        p ? (
          <div key={label} className="contents">
            <dt>{label}</dt>
            <dd>
              {p.full_name || '—'}
              {p.phone && <span className="muted"> · {p.phone}</span>}
            </dd>
          </div>
        ) : null,
      )}
    </dl>
  )
}
