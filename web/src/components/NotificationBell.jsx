// The bell: unread notifications (read_at is null) of the signed-in user,
// live from INSERTs on public.notifications (filter user_id=eq.<uid>). This
// server publishes only INSERT for notifications, so marking read re-reads
// the list instead of waiting for an UPDATE.
import { useEffect, useRef, useState } from 'react'
import { useNavigate } from 'react-router'
import { useApp } from '../app-context.jsx'
import { useLiveRows } from '../hooks/useLiveRows.js'
import { byCreatedDesc, when } from '../lib/format.js'
import { LiveStatus } from './LiveStatus.jsx'

export function NotificationBell() {
  const { supabase, uid, role, must, reportError } = useApp()
  const navigate = useNavigate()
  const [open, setOpen] = useState(false)
  const [busy, setBusy] = useState(false)
  const boxRef = useRef(null)

  const list = useLiveRows(
    uid && {
      topic: `user:${uid}:notifications`,
      table: 'notifications',
      filter: `user_id=eq.${uid}`,
      load: () =>
        must(
          supabase.from('notifications').select('*').eq('user_id', uid).is('read_at', null)
            .order('created_at', { ascending: false }).limit(100),
        ),
      accept: (row) => row.read_at === null || row.read_at === undefined,
      order: byCreatedDesc,
    },
    [uid],
  )
  const unread = list.rows.length

  useEffect(() => {
    if (!open) return undefined
    const close = (e) => {
      if (boxRef.current && !boxRef.current.contains(e.target)) setOpen(false)
    }
    const esc = (e) => e.key === 'Escape' && setOpen(false)
    document.addEventListener('mousedown', close)
    document.addEventListener('keydown', esc)
    return () => {
      document.removeEventListener('mousedown', close)
      document.removeEventListener('keydown', esc)
    }
  }, [open])

  async function markRead(ids) {
    setBusy(true)
    let q = supabase.from('notifications').update({ read_at: new Date().toISOString() }).eq('user_id', uid).is('read_at', null)
    if (ids) q = q.in('id', ids)
    // The server publishes notifications as INSERTs only (TABLE_EVENTS, as
    // the seed's 2.1 has it), so this tab applies its own write from the
    // answer; another tab of the same user catches up on its next load.
    const { data, error } = await q.select()
    setBusy(false)
    if (error) reportError(error, 'Could not mark as read')
    else for (const row of data ?? []) list.upsert?.(row)
  }

  function openTarget(n) {
    const booking = n.data?.booking_id
    if (!booking) return
    setOpen(false)
    if (role === 'customer') navigate(`/customer/bookings/${booking}`)
    else if (role === 'technician' && n.type !== 'bid_rejected') navigate(`/technician/jobs/${booking}`)
    else if (role === 'admin') navigate(`/admin/bookings/${booking}`)
  }

  return (
    <div className="bell" ref={boxRef}>
      <button
        type="button"
        className="bell-button"
        data-testid="notification-bell"
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
        title="Notifications"
      >
        Notifications{' '}
        <span className={unread ? 'count' : 'count zero'} data-testid="notification-count" data-count={unread}>
          {unread}
        </span>
      </button>
      {open && (
        <div className="bell-menu" data-testid="notification-list" role="dialog" aria-label="Notifications">
          <div className="bell-head">
            <strong>Unread notifications</strong>
            <button
              type="button"
              className="link"
              data-testid="notifications-read-all"
              disabled={busy || unread === 0}
              onClick={() => markRead(null)}
            >
              Mark all as read
            </button>
          </div>
          <LiveStatus snap={list} />
          {unread === 0 && <p className="muted">You are all caught up.</p>}
          <ul>
            {list.rows.map((n) => (
              <li key={n.id} data-testid={`notification-item-${n.id}`} data-type={n.type}>
                <button type="button" className="link notif-title" onClick={() => openTarget(n)}>
                  {n.title}
                </button>
                {n.body && <p className="small">{n.body}</p>}
                <div className="row small">
                  <span className="muted">{when(n.created_at)}</span>
                  <button
                    type="button"
                    className="link"
                    data-testid={`notification-read-${n.id}`}
                    disabled={busy}
                    onClick={() => markRead([n.id])}
                  >
                    Mark as read
                  </button>
                </div>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  )
}
