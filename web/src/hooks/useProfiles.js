// Rows of other tables looked up by id, for the names and ratings a screen
// shows next to its own rows. The REST subset has no resource embedding
// (select=*,profiles(*) is refused), so this is a second query with
// `id=in.(…)`. Rows read are cached per signed-in user; an id not readable
// now (RLS) is asked again the next time the list of ids changes.
import { useEffect, useState } from 'react'
import { useApp } from '../app-context.jsx'

const caches = new Map() // `${uid}|${table}` -> Map(id -> row)

function cacheFor(uid, table) {
  const k = `${uid}|${table}`
  if (!caches.has(k)) {
    for (const key of caches.keys()) if (!key.startsWith(`${uid}|`)) caches.delete(key)
    caches.set(k, new Map())
  }
  return caches.get(k)
}

export function useRowsById(table, columns, ids) {
  const { supabase, uid } = useApp()
  const key = [...new Set(ids.filter(Boolean))].sort().join(',')
  const [, setVersion] = useState(0)
  const cache = cacheFor(uid, table)

  useEffect(() => {
    if (!key) return undefined
    const missing = key.split(',').filter((id) => !cache.has(id))
    if (missing.length === 0) return undefined
    let live = true
    supabase
      .from(table)
      .select(columns)
      .in('id', missing)
      .then(({ data, error }) => {
        if (error) return
        for (const r of data || []) cache.set(r.id, r)
        if (live) setVersion((v) => v + 1)
      })
    return () => {
      live = false
    }
  }, [supabase, table, columns, key, cache])

  const out = {}
  for (const id of key ? key.split(',') : []) out[id] = cache.get(id) ?? null
  return out
}

export const useProfiles = (ids) => useRowsById('profiles', 'id,full_name,role,phone', ids)
export const useTechnicianInfo = (ids) =>
  useRowsById('technicians', 'id,services,hourly_rate,rating,rating_count,is_verified,bio', ids)

