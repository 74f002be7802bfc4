// A live list of rows (liveRows from the realtime module) as React state.
// The store is created in an effect and released on unmount or when `deps`
// change; opts === null means "nothing to show yet".
import { useEffect, useState, useSyncExternalStore } from 'react'
import { liveRows } from '../rt.js'
import { useApp } from '../app-context.jsx'

const LOADING = { rows: [], status: 'loading', error: null }
const noSubscribe = () => () => {}
const loading = () => LOADING

export function useLiveRows(opts, deps) {
  const { rt } = useApp()
  const [store, setStore] = useState(null)
  useEffect(() => {
    if (!rt || !opts) {
      setStore(null)
      return undefined
    }
    const s = liveRows(rt, opts)
    setStore(s)
    return () => {
      s.release()
      setStore((cur) => (cur === s ? null : cur))
    }
    // The caller names what opts depend on, as for useEffect.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [rt, ...deps])
  const snap = useSyncExternalStore(store ? store.subscribe : noSubscribe, store ? store.getSnapshot : loading)
  return { ...snap, refresh: store ? store.refresh : null, upsert: store ? store.upsert : null }
}
