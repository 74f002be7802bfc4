// An admin's look at one booking: status, details, bids and the chat (read only).
import { Link, useParams } from 'react-router'
import { useBooking } from '../../hooks/useBooking.js'
import { useProfiles } from '../../hooks/useProfiles.js'
import { LiveStatus } from '../../components/LiveStatus.jsx'
import { StatusBadge, StatusTimeline } from '../../components/StatusTimeline.jsx'
import { BookingDetails } from '../../components/BookingDetails.jsx'
import { Chat } from '../../components/Chat.jsx'
import { Bids } from '../customer/BookingTracker.jsx'

export function AdminBooking() {
  const { id } = useParams()
  const { booking, snap } = useBooking(id)
  const people = useProfiles([booking?.customer_id, booking?.technician_id])
  if (!booking) {
    return (
      <section className="card">
        <Link to="/admin">← Dashboard</Link>
        <p className="muted">{snap.status === 'loading' ? 'Loading…' : snap.error || 'No such booking.'}</p>
      </section>
    )
  }
  return (
    <div className="stack">
      <Link to="/admin">← Dashboard</Link>
      <section className="card" data-testid="admin-booking" data-booking-id={booking.id}>
        <div className="card-head">
          <h1>{booking.service}</h1>
          <StatusBadge status={booking.status} testid="booking-status" />
        </div>
        <LiveStatus snap={snap} />
        <StatusTimeline booking={booking} />
        <BookingDetails
          booking={booking}
          people={[
            ['Customer', people[booking.customer_id]],
            ['Technician', booking.technician_id ? people[booking.technician_id] : null],
          ]}
        />
      </section>
      <Bids booking={booking} />
      <Chat bookingId={booking.id} names={people} canWrite={false} />
    </div>
  )
}
