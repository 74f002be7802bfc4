// Small display helpers shared by the screens.

export const BOOKING_STEPS = ['pending', 'accepted', 'in_progress', 'completed']

const STATUS_LABELS = {
  pending: 'Pending',
  accepted: 'Accepted',
  in_progress: 'In progress',
  completed: 'Completed',
  cancelled: 'Cancelled',
  rejected: 'Not accepted',
  withdrawn: 'Withdrawn',
  visible: 'Visible',
  hidden: 'Hidden',
  flagged: 'Flagged',
}

export function statusLabel(s) {
  return STATUS_LABELS[s] || String(s ?? '')
}

export function money(v) {
  if (v === null || v === undefined || v === '') return '—'
  const n = Number(v)
  return Number.isFinite(n) ? `$${n.toFixed(2)}` : String(v)
}

export function when(ts) {
  if (!ts) return '—'
  const d = new Date(ts)
  if (Number.isNaN(d.getTime())) return String(ts)
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

// Compact: "Dec 3, 7:41 AM" (the year only when it is not this one).
export function short(ts) {
  if (!ts) return ''
  const d = new Date(ts)
  if (Number.isNaN(d.getTime())) return String(ts)
  const opts = { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' }
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = 'numeric'
  return d.toLocaleString(undefined, opts)
}

export function clock(ts) {
  if (!ts) return ''
  const d = new Date(ts)
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
}

export function bytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—'
  if (n < 1024) return `${Math.round(n)} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

export const byCreatedDesc = (a, b) => String(b.created_at).localeCompare(String(a.created_at))
export const byCreatedAsc = (a, b) => String(a.created_at).localeCompare(String(b.created_at))
