// rt.state as React state: 'connecting' | 'live' | 'reconnecting' | 'offline'.
import { useCallback, useSyncExternalStore } from 'react'

export function useConnectionState(rt) {
  const subscribe = useCallback((fn) => (rt ? rt.onState(fn) : () => {}), [rt])
  return useSyncExternalStore(subscribe, () => (rt ? rt.state : 'offline'))
}

// rt.totals as React state: {resumes, rereads} since sign-in (realtime.js).
// The snapshot is a string so that equal counts compare equal.
export function useResumeTotals(rt) {
  const subscribe = useCallback((fn) => (rt ? rt.onDebug(fn) : () => {}), [rt])
  const text = useSyncExternalStore(subscribe, () => (rt ? `${rt.totals.resumes}/${rt.totals.rereads}` : '0/0'))
  const [resumes, rereads] = text.split('/').map(Number)
  return { resumes, rereads }
}
