import { useState } from 'react'
import { Link } from 'react-router'
import { useApp } from '../../app-context.jsx'
import { useLiveRows } from '../../hooks/useLiveRows.js'
import { useProfiles } from '../../hooks/useProfiles.js'
import { byCreatedDesc, money, when } from '../../lib/format.js'
import { errorText } from '../../lib/errors.js'
import { LiveStatus } from '../../components/LiveStatus.jsx'
import { StatusBadge } from '../../components/StatusTimeline.jsx'

export function CustomerHome() {
  const { supabase, uid, must } = useApp()
  const bookings = useLiveRows(
    {
      topic: `bookings:customer:${uid}`,
      table: 'bookings',
      filter: `customer_id=eq.${uid}`,
      load: () =>
        must(supabase.from('bookings').select('*').eq('customer_id', uid).order('created_at', { ascending: false }).limit(200)),
      order: byCreatedDesc,
    },
    [uid],
  )
  const techs = useProfiles(bookings.rows.map((b) => b.technician_id))

  return (
    <div className="columns">
      <section className="card" data-testid="customer-bookings">
        <div className="card-head">
          <h1>My bookings</h1>
          <LiveStatus snap={bookings} />
        </div>
        {bookings.rows.length === 0 && bookings.status !== 'loading' && (
          <p className="muted">No bookings yet. Book a job below.</p>
        )}
        <ul className="list">
          {bookings.rows.map((b) => (
            <li key={b.id} className="list-row" data-testid={`booking-row-${b.id}`} data-status={b.status}>
              <div className="grow">
                <Link to={`/customer/bookings/${b.id}`} data-testid={`booking-link-${b.id}`} className="title">
                  {b.service}
                </Link>
                <div className="small muted">
                  {when(b.scheduled_at)} · {money(b.price)}
                  {b.technician_id && <> · {techs[b.technician_id]?.full_name || 'Technician'}</>}
                </div>
              </div>
              <StatusBadge status={b.status} />
              <Link to={`/customer/bookings/${b.id}`} className="button secondary small-button">
                Track
              </Link>
            </li>
          ))}
        </ul>
      </section>
      <BookJobForm />
    </div>
  )
}

const SERVICES = ['Plumbing', 'Electrical', 'HVAC', 'Appliance repair', 'Carpentry', 'Furniture assembly']

function BookJobForm() {
  const { supabase, uid, reportError } = useApp()
  const empty = { service: '', description: '', address: '', scheduled: '', budget: '' }
  const [f, setF] = useState(empty)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState(null)
  const [created, setCreated] = useState(null)
  const set = (k) => (e) => setF((old) => ({ ...old, [k]: e.target.value }))

  async function submit(e) {
    e.preventDefault()
    setBusy(true)
    setError(null)
    setCreated(null)
    const row = {
      customer_id: uid,
      service: f.service.trim(),
      description: f.description.trim() || null,
      address: f.address.trim() || null,
      scheduled_at: f.scheduled ? new Date(f.scheduled).toISOString() : null,
      price: f.budget === '' ? null : Number(f.budget),
    }
    const { data, error: err } = await supabase.from('bookings').insert(row).select().single()
    setBusy(false)
    if (err) {
      setError(errorText(err))
      reportError(err, 'Booking not created')
      return
    }
    setCreated(data)
    setF(empty)
  }

  return (
    <form className="card form" onSubmit={submit} data-testid="book-form">
      <h2>Book a job</h2>
      <label htmlFor="book-service">Service</label>
      <input id="book-service" data-testid="book-service" list="services" required maxLength={200} value={f.service} onChange={set('service')} placeholder="e.g. Leaking kitchen faucet" />
      <datalist id="services">
        {SERVICES.map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>
      <label htmlFor="book-description">Description</label>
      <textarea id="book-description" data-testid="book-description" rows={3} value={f.description} onChange={set('description')} placeholder="What is wrong?" />
      <label htmlFor="book-address">Address</label>
      <input id="book-address" data-testid="book-address" required value={f.address} onChange={set('address')} autoComplete="street-address" />
      <label htmlFor="book-scheduled">Scheduled time</label>
      <input id="book-scheduled" data-testid="book-scheduled" type="datetime-local" required value={f.scheduled} onChange={set('scheduled')} />
      <label htmlFor="book-budget">Budget (USD)</label>
      <input id="book-budget" data-testid="book-budget" type="number" min="0" step="0.01" inputMode="decimal" value={f.budget} onChange={set('budget')} />
      {error && <p className="error" data-testid="book-error">{error}</p>}
      {created && (
        <p className="success" data-testid="book-created">
          Booked. <Link to={`/customer/bookings/${created.id}`}>Track “{created.service}”</Link>
        </p>
      )}
      <button type="submit" data-testid="book-submit" disabled={busy}>
        {busy ? 'Booking…' : 'Book the job'}
      </button>
    </form>
  )
}
