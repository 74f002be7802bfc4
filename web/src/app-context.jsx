// The signed-in session and everything that lives exactly as long as it: the
// realtime connection (one `rt` per session, closed on sign-out), the user's
// profile and role, and the app-wide error messages. Screens read it with
// useApp().
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react'
import { useNavigate } from 'react-router'
import { createRealtime } from './rt.js'
import { errorText, isSessionError } from './lib/errors.js'

const AppContext = createContext(null)

export const EXPIRED_NOTICE = 'Your session has expired. Please sign in again.'
export const ELSEWHERE_NOTICE = 'You signed out in another tab.'

export function homeFor(role) {
  if (role === 'admin') return '/admin'
  if (role === 'technician') return '/technician'
  return '/customer'
}

let nextErrorId = 1

// hadSession: a stored session existed as the page loaded (supabase.js).
export function AppProvider({ supabase, hadSession = false, children }) {
  const navigate = useNavigate()
  const [auth, setAuth] = useState({ ready: false, session: null })
  const [profile, setProfile] = useState(null)
  const [rt, setRt] = useState(null)
  const [notice, setNotice] = useState(null)
  const [errors, setErrors] = useState([])
  const signingOut = useRef(false)
  const rtRef = useRef(null)

  // Auth events. The callback must not await supabase calls (auth-js holds a
  // lock while it runs), so it only records the session.
  useEffect(() => {
    // Another tab's sign-out reaches this one as the stored session being
    // removed (a storage event), then auth-js's SIGNED_OUT: tell the two
    // apart from a session that really expired.
    let elsewhere = false
    const onStorage = (e) => {
      if (e.key && /^sb-.*-auth-token$/.test(e.key) && e.newValue === null) elsewhere = true
    }
    window.addEventListener('storage', onStorage)
    const { data } = supabase.auth.onAuthStateChange((event, session) => {
      if (event === 'SIGNED_OUT' && !signingOut.current) {
        // Not this tab's sign-out: another tab's, or the refresh token was
        // refused (session ended, revoked, or the tab slept past it). The
        // storage event's listeners all run in one task; decide after it.
        setTimeout(() => {
          setNotice(elsewhere ? ELSEWHERE_NOTICE : EXPIRED_NOTICE)
          elsewhere = false
        }, 0)
      }
      if (event === 'INITIAL_SESSION' && !session && hadSession) {
        // A stored session auth-js could not refresh while it started.
        setNotice(EXPIRED_NOTICE)
      }
      if (event === 'SIGNED_IN') setNotice(null)
      setAuth((prev) => {
        const same = prev.ready && prev.session?.access_token === session?.access_token
        return same ? prev : { ready: true, session }
      })
    })
    return () => {
      window.removeEventListener('storage', onStorage)
      data.subscription.unsubscribe()
    }
  }, [supabase, hadSession])

  const session = auth.session
  const uid = session?.user?.id ?? null

  // One realtime connection per signed-in user.
  useEffect(() => {
    if (!uid) return undefined
    const r = createRealtime(supabase, { pollMs: 15000 })
    rtRef.current = r
    setRt(r)
    return () => {
      r.close() // idempotent: sign-out may have closed it already
      if (rtRef.current === r) rtRef.current = null
      setRt((cur) => (cur === r ? null : cur))
    }
  }, [supabase, uid])

  // The profile: the role's source of truth (the JWT's app_metadata.role
  // mirrors it and is used until the row arrives).
  useEffect(() => {
    if (!uid) {
      setProfile(null)
      return undefined
    }
    let live = true
    supabase
      .from('profiles')
      .select('id,role,full_name,phone')
      .eq('id', uid)
      .maybeSingle()
      .then(({ data }) => {
        if (live && data) setProfile(data)
      })
    return () => {
      live = false
    }
  }, [supabase, uid])

  const signOut = useCallback(
    async (message = null) => {
      signingOut.current = true
      try {
        // Channels first, so nothing is left subscribed with a dead token.
        await rtRef.current?.close()
        // This device's session only; auth-js clears the stored session even
        // when the server cannot be reached.
        await supabase.auth.signOut({ scope: 'local' }).catch(() => {})
      } finally {
        signingOut.current = false
      }
      setErrors([])
      setNotice(message)
      setAuth({ ready: true, session: null })
      navigate('/login', { replace: true })
    },
    [supabase, navigate],
  )

  const dismissError = useCallback((id) => setErrors((list) => list.filter((e) => e.id !== id)), [])

  // Shows an error in words; an expired session signs out to /login instead.
  const reportError = useCallback(
    (err, context = '') => {
      if (!err) return
      if (isSessionError(err)) {
        signOut(EXPIRED_NOTICE)
        return
      }
      const text = (context ? `${context}: ` : '') + errorText(err)
      const id = nextErrorId++
      setErrors((list) => [...list.filter((e) => e.text !== text).slice(-3), { id, text }])
      setTimeout(() => dismissError(id), 15000)
    },
    [signOut, dismissError],
  )

  // Runs a supabase query and returns its data, throwing an Error in words
  // (for liveRows' load, which must throw on error).
  const must = useCallback(
    async (query) => {
      const { data, error } = await query
      if (error) {
        if (isSessionError(error)) signOut(EXPIRED_NOTICE)
        throw new Error(errorText(error))
      }
      return data
    },
    [signOut],
  )

  // After our own sign-out navigation, and when an expired session was
  // noticed by auth-js: leave the protected screens.
  useEffect(() => {
    if (auth.ready && !session && notice === EXPIRED_NOTICE) {
      rtRef.current?.close()
      navigate('/login', { replace: true })
    }
  }, [auth.ready, session, notice, navigate])

  const role = profile?.role ?? session?.user?.app_metadata?.role ?? null
  const name = profile?.full_name || session?.user?.user_metadata?.full_name || session?.user?.email || ''

  const value = useMemo(
    () => ({
      supabase, ready: auth.ready, session, user: session?.user ?? null, uid, role, name, profile,
      rt, notice, setNotice, errors, reportError, dismissError, must, signOut,
    }),
    [supabase, auth.ready, session, uid, role, name, profile, rt, notice, errors, reportError, dismissError, must, signOut],
  )
  return <AppContext.Provider value={value}>{children}</AppContext.Provider>
}

export function useApp() {
  const ctx = useContext(AppContext)
  if (!ctx) throw new Error('useApp() outside <AppProvider>')
  return ctx
}
