// The app's one Supabase client. Created once, after /config.json has given
// the anon key (main.jsx); the server is this page's own origin.
import { createClient } from '@supabase/supabase-js'

let client = null
let hadSession = false

// auth-js keeps the session under sb-<host>-auth-token; whether one was there
// before the client (which drops it if its refresh token is refused while
// it initializes, before anyone can listen) tells "expired" from "never
// signed in".
function storedSessionExists() {
  try {
    for (let i = 0; i < localStorage.length; i++) {
      if (/^sb-.*-auth-token$/.test(localStorage.key(i))) return true
    }
  } catch {
    // storage unavailable (private mode): nothing was stored
  }
  return false
}

export function initSupabase(anonKey) {
  if (!client) {
    hadSession = storedSessionExists()
    client = createClient(window.location.origin, anonKey, {
      auth: { persistSession: true, autoRefreshToken: true },
    })
  }
  return client
}

/** True when a stored session existed as the page loaded. */
export function hadStoredSession() {
  return hadSession
}
