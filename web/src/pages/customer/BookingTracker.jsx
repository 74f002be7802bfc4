// The customer's view of one booking: its status live with a timeline, the
// bids arriving live (accept one with the accept_bid RPC), the chat with the
// assigned technician, and a review once the job is completed.
import { useState } from 'react'
import { Link, useParams } from 'react-router'
import { useApp } from '../../app-context.jsx'
import { useBooking } from '../../hooks/useBooking.js'
import { useLiveRows } from '../../hooks/useLiveRows.js'
import { useProfiles, useTechnicianInfo } from '../../hooks/useProfiles.js'
import { byCreatedAsc, money, when } from '../../lib/format.js'
import { errorText } from '../../lib/errors.js'
import { LiveStatus } from '../../components/LiveStatus.jsx'
import { StatusBadge, StatusTimeline } from '../../components/StatusTimeline.jsx'
import { BookingDetails } from '../../components/BookingDetails.jsx'
import { Chat } from '../../components/Chat.jsx'

export function BookingTracker() {
  const { id } = useParams()
  const { supabase, reportError } = useApp()
  const { booking, snap } = useBooking(id)
  const people = useProfiles([booking?.technician_id])
  const [busy, setBusy] = useState(false)
  const [confirming, setConfirming] = useState(false)

  if (!booking) {
    return (
      <section className="card">
        <Link to="/customer">← My bookings</Link>
        <p className="muted">{snap.status === 'loading' ? 'Loading…' : snap.error || 'No such booking (or it is not yours).'}</p>
      </section>
    )
  }

  async function cancel() {
    setBusy(true)
    const { error } = await supabase.from('bookings').update({ status: 'cancelled' }).eq('id', booking.id)
    setBusy(false)
    setConfirming(false)
    if (error) reportError(error, 'Could not cancel')
  }

  const tech = booking.technician_id ? people[booking.technician_id] : null
  return (
    <div className="stack">
      <Link to="/customer">← My bookings</Link>
      <section className="card" data-testid="booking-tracker" data-booking-id={booking.id}>
        <div className="card-head">
          <h1>{booking.service}</h1>
          <StatusBadge status={booking.status} testid="booking-status" />
        </div>
        <LiveStatus snap={snap} />
        <StatusTimeline booking={booking} />
        <BookingDetails booking={booking} people={[['Technician', tech]]} />
        {(booking.status === 'pending' || booking.status === 'accepted') &&
          (confirming ? (
            <div className="actions" role="group" aria-label="Confirm cancellation">
              <span>Cancel this booking?</span>
              <button type="button" className="danger" data-testid="confirm-cancel-booking" disabled={busy} onClick={cancel}>
                {busy ? 'Cancelling…' : 'Yes, cancel it'}
              </button>
              <button type="button" className="secondary" disabled={busy} onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </div>
          ) : (
            <button type="button" className="danger" data-testid="cancel-booking" onClick={() => setConfirming(true)}>
              Cancel booking
            </button>
          ))}
      </section>
      <Bids booking={booking} />
      {booking.technician_id && <Chat bookingId={booking.id} names={people} />}
      {booking.status === 'completed' && <Review booking={booking} techName={tech?.full_name} />}
    </div>
  )
}

export function Bids({ booking }) {
  const { supabase, must, reportError } = useApp()
  const bids = useLiveRows(
    {
      topic: `bids:${booking.id}`,
      table: 'bids',
      filter: `booking_id=eq.${booking.id}`,
      load: () => must(supabase.from('bids').select('*').eq('booking_id', booking.id).order('created_at', { ascending: true })),
      order: byCreatedAsc,
    },
    [booking.id],
  )
  const ids = bids.rows.map((b) => b.technician_id)
  const names = useProfiles(ids)
  const info = useTechnicianInfo(ids)
  const [busy, setBusy] = useState(null)
  const [error, setError] = useState(null)
  const open = booking.status === 'pending'

  async function accept(bid) {
    setBusy(bid.id)
    setError(null)
    const { error: err } = await supabase.rpc('accept_bid', { bid_id: bid.id })
    setBusy(null)
    if (err) {
      setError(errorText(err))
      reportError(err, 'Bid not accepted')
    }
  }

  async function reject(bid) {
    setBusy(bid.id)
    setError(null)
    const { error: err } = await supabase.from('bids').update({ status: 'rejected' }).eq('id', bid.id)
    setBusy(null)
    if (err) {
      setError(errorText(err))
      reportError(err, 'Bid not declined')
    }
  }

  const shown = open ? bids.rows : bids.rows.filter((b) => b.status !== 'withdrawn')
  return (
    <section className="card" data-testid="bids-list">
      <div className="card-head">
        <h2>Bids</h2>
        <LiveStatus snap={bids} />
      </div>
      {shown.length === 0 && bids.status !== 'loading' && (
        <p className="muted">{open ? 'No bids yet. They appear here as technicians bid.' : 'No bids.'}</p>
      )}
      <ul className="list">
        {shown.map((b) => {
          const t = info[b.technician_id]
          return (
            <li key={b.id} className="list-row" data-testid={`bid-row-${b.id}`} data-status={b.status}>
              <div className="grow">
                <strong>{names[b.technician_id]?.full_name || 'A technician'}</strong>
                {t?.rating != null && (
                  <span className="small muted">
                    {' '}
                    · ★ {Number(t.rating).toFixed(1)} ({t.rating_count})
                  </span>
                )}
                <div className="amount">{money(b.amount)}</div>
                {b.message && <p className="small">“{b.message}”</p>}
                <div className="small muted">{when(b.created_at)}</div>
              </div>
              <div className="actions">
                <StatusBadge status={b.status} />
                {open && b.status === 'pending' && (
                  <>
                    <button type="button" data-testid={`accept-bid-${b.id}`} disabled={!!busy} onClick={() => accept(b)}>
                      {busy === b.id ? 'Accepting…' : 'Accept bid'}
                    </button>
                    <button type="button" className="secondary" data-testid={`reject-bid-${b.id}`} disabled={!!busy} onClick={() => reject(b)}>
                      Decline
                    </button>
                  </>
                )}
              </div>
            </li>
          )
        })}
      </ul>
      {error && <p className="error" data-testid="bid-error">{error}</p>}
    </section>
  )
}

function Review({ booking, techName }) {
  const { supabase, uid, must, reportError } = useApp()
  const reviews = useLiveRows(
    {
      topic: `review:${booking.id}`,
      table: 'reviews',
      filter: `booking_id=eq.${booking.id}`,
      load: () => must(supabase.from('reviews').select('*').eq('booking_id', booking.id)),
    },
    [booking.id],
  )
  const [rating, setRating] = useState('5')
  const [comment, setComment] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState(null)
  const mine = reviews.rows[0]

  async function submit(e) {
    e.preventDefault()
    setBusy(true)
    setError(null)
    const { error: err } = await supabase
      .from('reviews')
      .insert({ booking_id: booking.id, customer_id: uid, rating: Number(rating), comment: comment.trim() || null })
    setBusy(false)
    if (err) {
      setError(errorText(err, { 23505: 'You already reviewed this booking.' }))
      reportError(err, 'Review not saved')
      return
    }
    if (reviews.status !== 'live') reviews.refresh?.()
  }

  if (mine) {
    return (
      <section className="card" data-testid="review-done" data-rating={mine.rating}>
        <h2>Your review</h2>
        <p className="stars" aria-label={`${mine.rating} out of 5`}>
          {'★'.repeat(mine.rating)}
          {'☆'.repeat(5 - mine.rating)}
        </p>
        {mine.comment && <p>“{mine.comment}”</p>}
        {mine.status !== 'visible' && <p className="small muted">Status: {mine.status}</p>}
      </section>
    )
  }
  if (reviews.status === 'loading') return null
  return (
    <form className="card form" onSubmit={submit} data-testid="review-form">
      <h2>Review {techName || 'the technician'}</h2>
      <label htmlFor="review-rating">Rating</label>
      <select id="review-rating" data-testid="review-rating" value={rating} onChange={(e) => setRating(e.target.value)}>
        {[5, 4, 3, 2, 1].map((n) => (
          <option key={n} value={n}>
            {n} — {'★'.repeat(n)}
          </option>
        ))}
      </select>
      <label htmlFor="review-comment">Comment</label>
      <textarea id="review-comment" data-testid="review-comment" rows={3} value={comment} onChange={(e) => setComment(e.target.value)} />
      {error && <p className="error" data-testid="review-error">{error}</p>}
      <button type="submit" data-testid="review-submit" disabled={busy}>
        {busy ? 'Saving…' : 'Submit review'}
      </button>
    </form>
  )
}
