// Errors from supabase-js (auth, PostgREST, Realtime) put into words a user
// can act on. The server's own message is kept whenever it says something.

const NETWORK = /failed to fetch|networkerror|load failed|network request failed|fetch failed/i

export function isNetworkError(err) {
  if (!err) return false
  if (err.name === 'AuthRetryableFetchError') return true
  return NETWORK.test(String(err.message || err)) || NETWORK.test(String(err.details || ''))
}

// An access token the server no longer accepts (expired, or its session ended).
export function isSessionError(err) {
  if (!err) return false
  return ['PGRST301', 'PGRST303', 'session_not_found', 'refresh_token_not_found', 'refresh_token_already_used']
    .includes(err.code) || /JWT expired|token has expired/i.test(String(err.message || ''))
}

/** errorText(err, overrides?) -> a sentence. overrides: { [code]: text } */
export function errorText(err, overrides = {}) {
  if (!err) return ''
  if (typeof err === 'string') return err
  if (err.code && overrides[err.code]) return overrides[err.code]
  if (isNetworkError(err)) return 'Cannot reach the TechCare server. Check your connection and try again.'
  switch (err.code) {
    case 'invalid_credentials':
      return 'Wrong email or password.'
    case 'email_not_confirmed':
      return 'This email address is not confirmed yet.'
    case 'user_banned':
      return 'This account is suspended.'
    case 'PGRST303':
    case 'PGRST301':
      return 'Your session has expired. Please sign in again.'
    case '23505':
      return 'That already exists.'
    default:
      break
  }
  const msg = err.message || err.msg || err.error_description || String(err)
  if (/row-level security/i.test(msg)) return `Not allowed: ${msg}`
  return msg.charAt(0).toUpperCase() + msg.slice(1)
}
