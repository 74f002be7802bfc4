// rt.state as React state: 'connecting' | 'live' | 'reconnecting' | 'offline'.
import { useCallback, useSyncExternalStore } from 'react'

export function useConnectionState(rt) {
  const subscribe = useCallback((fn) => (rt ? rt.onState(fn) : () => {}), [rt])
  return useSyncExternalStore(subscribe, () => (rt ? rt.state : 'offline'))
}
