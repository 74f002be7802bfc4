// The technician's screen: the marketplace (pending bookings, live; verified
// technicians only) with "Place bid", and My jobs (bookings assigned to them,
// live) with "Start job" / "Mark completed".
//
// The marketplace is public.marketplace (db/migrations/010), not bookings
// filtered on status: a booking accepted for someone else is then a DELETE
// every verified technician receives, where an UPDATE of the booking would
// be invisible to them (its new row is neither pending nor theirs).
import { useMemo, useState } from 'react'
import { Link } from 'react-router'
import { useApp } from '../../app-context.jsx'
import { useLiveRows } from '../../hooks/useLiveRows.js'
import { useProfiles } from '../../hooks/useProfiles.js'
import { byCreatedDesc, money, when } from '../../lib/format.js'
import { errorText } from '../../lib/errors.js'
import { LiveStatus } from '../../components/LiveStatus.jsx'
import { StatusBadge } from '../../components/StatusTimeline.jsx'

export function TechnicianHome() {
  const { supabase, uid, must } = useApp()
  const me = useLiveRows(
    {
      topic: `technician:${uid}`,
      table: 'technicians',
      filter: `id=eq.${uid}`,
      load: () => must(supabase.from('technicians').select('*').eq('id', uid)),
    },
    [uid],
  )
  const tech = me.rows[0]
  const verified = !!tech?.is_verified

  return (
    <div className="columns">
      <div className="stack">
        {tech && !verified && (
          <section className="card notice" data-testid="unverified-note">
            <h2>Your account is not verified yet</h2>
            <p>
              You cannot see the marketplace or bid on jobs until an administrator verifies your account. This page updates
              by itself as soon as you are verified.
            </p>
          </section>
        )}
        {verified && <Marketplace />}
      </div>
      <MyJobs />
    </div>
  )
}

function Marketplace() {
  const { supabase, uid, must } = useApp()
  // public.marketplace holds one listing per pending booking: a booking
  // taken by someone else is a DELETE of its listing, which every verified
  // technician hears (an UPDATE of the booking would reach nobody but its
  // parties). No re-reading on a timer.
  const market = useLiveRows(
    {
      topic: `market:${uid}`,
      table: 'marketplace',
      key: 'booking_id',
      load: () =>
        must(supabase.from('marketplace').select('*').order('created_at', { ascending: false }).limit(200)),
      order: byCreatedDesc,
    },
    [uid],
  )
  const myBids = useLiveRows(
    {
      topic: `bids:technician:${uid}`,
      table: 'bids',
      filter: `technician_id=eq.${uid}`,
      load: () =>
        must(supabase.from('bids').select('*').eq('technician_id', uid).order('created_at', { ascending: false }).limit(500)),
      order: byCreatedDesc,
    },
    [uid],
  )
  const refresh = market.refresh

  // My live bid per booking (pending or accepted; at most one, by the schema).
  const bidFor = useMemo(() => {
    const m = {}
    for (const b of myBids.rows) if (b.status === 'pending' || b.status === 'accepted') m[b.booking_id] ??= b
    return m
  }, [myBids.rows])
  const listings = useMemo(() => market.rows.map((l) => ({ ...l, id: l.booking_id, status: 'pending' })), [market.rows])

  return (
    <section className="card" data-testid="marketplace">
      <div className="card-head">
        <h1>Marketplace</h1>
        <LiveStatus snap={market} />
      </div>
      <p className="small muted">Open jobs waiting for bids. New ones appear here live.</p>
      {market.rows.length === 0 && market.status !== 'loading' && <p className="muted">No open jobs right now.</p>}
      <ul className="list">
        {listings.map((b) => (
          <MarketRow key={b.id} booking={b} myBid={bidFor[b.id]} onRefused={refresh} />
        ))}
      </ul>
    </section>
  )
}

function MarketRow({ booking, myBid, onRefused }) {
  const { supabase, uid, reportError } = useApp()
  const [amount, setAmount] = useState(booking.price ?? '')
  const [message, setMessage] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState(null)

  async function place(e) {
    e.preventDefault()
    setBusy(true)
    setError(null)
    const { error: err } = await supabase
      .from('bids')
      .insert({ booking_id: booking.id, technician_id: uid, amount: Number(amount), message: message.trim() || null })
    setBusy(false)
    if (err) {
      setError(errorText(err, { 23505: 'You already have a live bid on this job.' }))
      reportError(err, 'Bid not placed')
      onRefused?.()
      return
    }
    setMessage('')
  }

  async function withdraw() {
    setBusy(true)
    const { error: err } = await supabase.from('bids').update({ status: 'withdrawn' }).eq('id', myBid.id)
    setBusy(false)
    if (err) reportError(err, 'Bid not withdrawn')
  }

  return (
    <li className="list-row market-row" data-testid={`market-row-${booking.id}`} data-status={booking.status}>
      <div className="grow">
        <strong>{booking.service}</strong>
        {booking.description && <p className="small">{booking.description}</p>}
        <div className="small muted">
          {booking.address || 'No address'} · {when(booking.scheduled_at)} · budget {money(booking.price)}
        </div>
      </div>
      {myBid ? (
        <div className="my-bid" data-testid={`my-bid-${booking.id}`} data-status={myBid.status}>
          Your bid: <strong>{money(myBid.amount)}</strong> <StatusBadge status={myBid.status} />
          {myBid.status === 'pending' && (
            <button type="button" className="secondary" data-testid={`withdraw-bid-${booking.id}`} disabled={busy} onClick={withdraw}>
              Withdraw
            </button>
          )}
        </div>
      ) : (
        <form className="bid-form" onSubmit={place}>
          <label htmlFor={`bid-amount-${booking.id}`}>Amount (USD)</label>
          <input
            id={`bid-amount-${booking.id}`}
            data-testid={`bid-amount-${booking.id}`}
            type="number"
            min="0.01"
            step="0.01"
            required
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
          />
          <label htmlFor={`bid-message-${booking.id}`}>Message</label>
          <input
            id={`bid-message-${booking.id}`}
            data-testid={`bid-message-${booking.id}`}
            value={message}
            maxLength={1000}
            onChange={(e) => setMessage(e.target.value)}
            placeholder="When can you come?"
          />
          <button type="submit" data-testid={`place-bid-${booking.id}`} disabled={busy}>
            {busy ? 'Placing…' : 'Place bid'}
          </button>
        </form>
      )}
      {error && <p className="error" data-testid={`bid-error-${booking.id}`}>{error}</p>}
    </li>
  )
}

export function useJobAction() {
  const { supabase, reportError } = useApp()
  const [busy, setBusy] = useState(null)
  const move = async (booking, status, label) => {
    setBusy(booking.id)
    const { error } = await supabase.from('bookings').update({ status }).eq('id', booking.id)
    setBusy(null)
    if (error) reportError(error, label)
  }
  return { busy, move }
}

export function JobButtons({ booking, busy, move, suffix = true }) {
  const id = (name) => (suffix ? `${name}-${booking.id}` : name)
  if (booking.status === 'accepted') {
    return (
      <button type="button" data-testid={id('start-job')} disabled={busy} onClick={() => move(booking, 'in_progress', 'Could not start the job')}>
        Start job
      </button>
    )
  }
  if (booking.status === 'in_progress') {
    return (
      <button type="button" data-testid={id('complete-job')} disabled={busy} onClick={() => move(booking, 'completed', 'Could not complete the job')}>
        Mark completed
      </button>
    )
  }
  return null
}

function MyJobs() {
  const { supabase, uid, must } = useApp()
  const jobs = useLiveRows(
    {
      topic: `jobs:${uid}`,
      table: 'bookings',
      filter: `technician_id=eq.${uid}`,
      load: () =>
        must(supabase.from('bookings').select('*').eq('technician_id', uid).order('created_at', { ascending: false }).limit(200)),
      accept: (row) => row.technician_id === uid,
      order: byCreatedDesc,
    },
    [uid],
  )
  const customers = useProfiles(jobs.rows.map((b) => b.customer_id))
  const { busy, move } = useJobAction()
  const active = jobs.rows.filter((b) => b.status === 'accepted' || b.status === 'in_progress')
  const past = jobs.rows.filter((b) => b.status !== 'accepted' && b.status !== 'in_progress')

  const row = (b) => (
    <li key={b.id} className="list-row" data-testid={`job-row-${b.id}`} data-status={b.status}>
      <div className="grow">
        <Link to={`/technician/jobs/${b.id}`} className="title" data-testid={`job-link-${b.id}`}>
          {b.service}
        </Link>
        <div className="small muted">
          {customers[b.customer_id]?.full_name || 'Customer'} · {when(b.scheduled_at)} · {money(b.price)}
        </div>
      </div>
      <StatusBadge status={b.status} />
      <JobButtons booking={b} busy={busy === b.id} move={move} />
    </li>
  )

  return (
    <section className="card" data-testid="my-jobs">
      <div className="card-head">
        <h1>My jobs</h1>
        <LiveStatus snap={jobs} />
      </div>
      {jobs.rows.length === 0 && jobs.status !== 'loading' && <p className="muted">No jobs yet. Win a bid to get one.</p>}
      <ul className="list">{active.map(row)}</ul>
      {past.length > 0 && (
        <details>
          <summary>Finished and cancelled ({past.length})</summary>
          <ul className="list">{past.map(row)}</ul>
        </details>
      )}
    </section>
  )
}
