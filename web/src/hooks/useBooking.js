// One booking, live (filter id=eq.<id>), for the tracker and job pages.
import { useApp } from '../app-context.jsx'
import { useLiveRows } from './useLiveRows.js'

export function useBooking(id) {
  const { supabase, must } = useApp()
  const snap = useLiveRows(
    id && {
      topic: `booking:${id}`,
      table: 'bookings',
      filter: `id=eq.${id}`,
      load: () => must(supabase.from('bookings').select('*').eq('id', id)),
    },
    [id],
  )
  return { booking: snap.rows[0] || null, snap }
}
