// The admin dashboard: every booking live, new profiles as they sign up,
// reviews to moderate, technicians to verify, and the server panel.
import { memo, useRef, useState } from 'react'
import { Link } from 'react-router'
import { useApp } from '../../app-context.jsx'
import { useLiveRows } from '../../hooks/useLiveRows.js'
import { useProfiles } from '../../hooks/useProfiles.js'
import { byCreatedDesc, money, statusLabel, when } from '../../lib/format.js'
import { LiveStatus } from '../../components/LiveStatus.jsx'
import { StatusBadge } from '../../components/StatusTimeline.jsx'
import { ServerPanel } from './ServerPanel.jsx'

export function AdminHome() {
  return (
    <div className="admin-grid">
      <AllBookings />
      <div className="stack">
        <VerifyTechnicians />
        <NewProfiles />
      </div>
      <Reviews />
      <ServerPanel />
    </div>
  )
}

function AllBookings() {
  const { supabase, must } = useApp()
  const list = useLiveRows(
    {
      topic: 'admin:bookings',
      table: 'bookings',
      load: () => must(supabase.from('bookings').select('*').order('created_at', { ascending: false }).limit(200)),
      order: byCreatedDesc,
    },
    [],
  )
  const names = useProfiles(list.rows.flatMap((b) => [b.customer_id, b.technician_id]))
  const [filter, setFilter] = useState('all')
  const counts = {}
  for (const b of list.rows) counts[b.status] = (counts[b.status] || 0) + 1
  const rows = filter === 'all' ? list.rows : list.rows.filter((b) => b.status === filter)

  return (
    <section className="card wide" data-testid="admin-bookings">
      <div className="card-head">
        <h1>All bookings</h1>
        <LiveStatus snap={list} />
      </div>
      <div className="filters">
        <label htmlFor="admin-status-filter">Show</label>
        <select id="admin-status-filter" value={filter} onChange={(e) => setFilter(e.target.value)}>
          <option value="all">All ({list.rows.length})</option>
          {['pending', 'accepted', 'in_progress', 'completed', 'cancelled'].map((s) => (
            <option key={s} value={s}>
              {statusLabel(s)} ({counts[s] || 0})
            </option>
          ))}
        </select>
      </div>
      <ul className="list">
        {rows.map((b) => (
          <AdminBookingRow
            key={b.id}
            b={b}
            customer={names[b.customer_id]?.full_name}
            technician={b.technician_id ? names[b.technician_id]?.full_name : null}
          />
        ))}
      </ul>
    </section>
  )
}

// One row; memo: a change re-renders its own row only (liveRows keeps the
// other rows' objects), which keeps a long list's update cost flat.
const AdminBookingRow = memo(function AdminBookingRow({ b, customer, technician }) {
  return (
    <li className="list-row" data-testid={`booking-row-${b.id}`} data-status={b.status}>
      <div className="grow">
        <Link to={`/admin/bookings/${b.id}`} className="title" data-testid={`booking-link-${b.id}`}>
          {b.service}
        </Link>
        <div className="small muted">
          {customer || 'Customer'}
          {b.technician_id && <> → {technician || 'Technician'}</>} · {money(b.price)} · created {when(b.created_at)}
        </div>
      </div>
      <StatusBadge status={b.status} />
    </li>
  )
})

function NewProfiles() {
  const { supabase, must } = useApp()
  const since = useRef(new Date().toISOString())
  const list = useLiveRows(
    {
      topic: 'admin:profiles',
      table: 'profiles',
      load: () => must(supabase.from('profiles').select('*').order('created_at', { ascending: false }).limit(20)),
      order: byCreatedDesc,
    },
    [],
  )
  return (
    <section className="card" data-testid="new-profiles">
      <div className="card-head">
        <h2>New profiles</h2>
        <LiveStatus snap={list} />
      </div>
      <ul className="list compact">
        {list.rows.slice(0, 20).map((p) => (
          <li key={p.id} className="list-row" data-testid={`profile-row-${p.id}`} data-role={p.role}>
            <div className="grow">
              <strong>{p.full_name || '(no name)'}</strong> <span className="small muted">{p.role}</span>
              <div className="small muted">{when(p.created_at)}</div>
            </div>
            {p.created_at > since.current && <span className="badge new">New</span>}
          </li>
        ))}
      </ul>
    </section>
  )
}

function VerifyTechnicians() {
  const { supabase, must, reportError } = useApp()
  const list = useLiveRows(
    {
      topic: 'admin:technicians',
      table: 'technicians',
      load: () => must(supabase.from('technicians').select('*').eq('is_verified', false).order('created_at', { ascending: true })),
      accept: (row) => row.is_verified === false,
      order: (a, b) => String(a.created_at).localeCompare(String(b.created_at)),
    },
    [],
  )
  const names = useProfiles(list.rows.map((t) => t.id))
  const [busy, setBusy] = useState(null)

  async function verify(t) {
    setBusy(t.id)
    const { error } = await supabase.from('technicians').update({ is_verified: true }).eq('id', t.id)
    setBusy(null)
    if (error) reportError(error, 'Could not verify')
  }

  return (
    <section className="card" data-testid="verify-list">
      <div className="card-head">
        <h2>Technicians to verify</h2>
        <LiveStatus snap={list} />
      </div>
      {list.rows.length === 0 && list.status !== 'loading' && <p className="muted">Nobody is waiting.</p>}
      <ul className="list">
        {list.rows.map((t) => (
          <li key={t.id} className="list-row" data-testid={`verify-row-${t.id}`}>
            <div className="grow">
              <strong>{names[t.id]?.full_name || 'Technician'}</strong>
              <div className="small muted">
                {(t.services || []).join(', ') || 'no services listed'}
                {t.hourly_rate != null && <> · {money(t.hourly_rate)}/h</>}
              </div>
              {t.bio && <p className="small">{t.bio}</p>}
            </div>
            <button type="button" data-testid={`verify-${t.id}`} disabled={busy === t.id} onClick={() => verify(t)}>
              {busy === t.id ? 'Verifying…' : 'Verify'}
            </button>
          </li>
        ))}
      </ul>
    </section>
  )
}

const REVIEW_STATUSES = ['visible', 'flagged', 'hidden']

function Reviews() {
  const { supabase, must, reportError } = useApp()
  const list = useLiveRows(
    {
      topic: 'admin:reviews',
      table: 'reviews',
      load: () => must(supabase.from('reviews').select('*').order('created_at', { ascending: false }).limit(200)),
      order: (a, b) =>
        (a.status === 'flagged' ? 0 : 1) - (b.status === 'flagged' ? 0 : 1) || byCreatedDesc(a, b),
    },
    [],
  )
  const names = useProfiles(list.rows.flatMap((r) => [r.customer_id, r.technician_id]))
  const [busy, setBusy] = useState(null)

  async function setStatus(r, status) {
    setBusy(r.id)
    const { error } = await supabase.from('reviews').update({ status }).eq('id', r.id)
    setBusy(null)
    if (error) reportError(error, 'Could not change the review')
  }

  return (
    <section className="card" data-testid="reviews-moderation">
      <div className="card-head">
        <h2>Reviews to moderate</h2>
        <LiveStatus snap={list} />
      </div>
      {list.rows.length === 0 && list.status !== 'loading' && <p className="muted">No reviews yet.</p>}
      <ul className="list">
        {list.rows.map((r) => (
          <li key={r.id} className="list-row" data-testid={`review-row-${r.id}`} data-status={r.status}>
            <div className="grow">
              <span className="stars" aria-label={`${r.rating} out of 5`}>
                {'★'.repeat(r.rating)}
                {'☆'.repeat(5 - r.rating)}
              </span>{' '}
              <StatusBadge status={r.status} />
              {r.comment && <p className="small">“{r.comment}”</p>}
              <div className="small muted">
                {names[r.customer_id]?.full_name || 'Customer'} about {names[r.technician_id]?.full_name || 'technician'} ·{' '}
                {when(r.created_at)}
              </div>
            </div>
            <div className="actions">
              {REVIEW_STATUSES.filter((s) => s !== r.status).map((s) => (
                <button
                  key={s}
                  type="button"
                  className="secondary"
                  data-testid={`review-${s}-${r.id}`}
                  disabled={busy === r.id}
                  onClick={() => setStatus(r, s)}
                >
                  {s === 'visible' ? 'Make visible' : s === 'flagged' ? 'Flag' : 'Hide'}
                </button>
              ))}
            </div>
          </li>
        ))}
      </ul>
    </section>
  )
}

