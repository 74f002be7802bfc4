// A technician's job: status live, the buttons to move it on, and the chat
// with the customer (with typing indicator).
import { Link, useParams } from 'react-router'
import { useBooking } from '../../hooks/useBooking.js'
import { useProfiles } from '../../hooks/useProfiles.js'
import { LiveStatus } from '../../components/LiveStatus.jsx'
import { StatusBadge, StatusTimeline } from '../../components/StatusTimeline.jsx'
import { BookingDetails } from '../../components/BookingDetails.jsx'
import { Chat } from '../../components/Chat.jsx'
import { JobButtons, useJobAction } from './TechnicianHome.jsx'
import { useApp } from '../../app-context.jsx'

export function JobPage() {
  const { id } = useParams()
  const { uid } = useApp()
  const { booking, snap } = useBooking(id)
  const people = useProfiles([booking?.customer_id])
  const { busy, move } = useJobAction()

  if (!booking) {
    return (
      <section className="card">
        <Link to="/technician">← Jobs</Link>
        <p className="muted">{snap.status === 'loading' ? 'Loading…' : snap.error || 'No such job (or it is not assigned to you).'}</p>
      </section>
    )
  }
  const mine = booking.technician_id === uid
  return (
    <div className="stack">
      <Link to="/technician">← Jobs</Link>
      <section className="card" data-testid="job-page" data-booking-id={booking.id}>
        <div className="card-head">
          <h1>{booking.service}</h1>
          <StatusBadge status={booking.status} testid="booking-status" />
        </div>
        <LiveStatus snap={snap} />
        <StatusTimeline booking={booking} />
        <BookingDetails booking={booking} people={[['Customer', people[booking.customer_id]]]} />
        {mine && (
          <div className="actions">
            <JobButtons booking={booking} busy={busy === booking.id} move={move} suffix={false} />
          </div>
        )}
        {!mine && <p className="muted">This job is not assigned to you.</p>}
      </section>
      {mine && <Chat bookingId={booking.id} names={people} />}
    </div>
  )
}
