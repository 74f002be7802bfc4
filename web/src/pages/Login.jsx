import { useState } from 'react'
import { Navigate, useNavigate } from 'react-router'
import { homeFor, useApp } from '../app-context.jsx'
import { errorText } from '../lib/errors.js'

const DEMO_PASSWORD = 'techcare-demo'
const DEMO_USERS = [
  ['alice@customer.demo', 'Alice Martin', 'customer'],
  ['bob@customer.demo', 'Bob Chen', 'customer'],
  ['carol@customer.demo', 'Carol Diaz', 'customer'],
  ['tom@tech.demo', 'Tom Rivera', 'technician, verified'],
  ['tina@tech.demo', 'Tina Okafor', 'technician, verified'],
  ['victor@tech.demo', 'Victor Novak', 'technician, not verified'],
  ['admin@techcare.demo', 'Ada Admin', 'admin'],
]

export function Login() {
  const { supabase, session, role, ready, notice, setNotice } = useApp()
  const navigate = useNavigate()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState(null)

  if (ready && session && !busy) return <Navigate to={homeFor(role)} replace />

  async function submit(e) {
    e.preventDefault()
    setBusy(true)
    setError(null)
    const { data, error: err } = await supabase.auth.signInWithPassword({ email: email.trim(), password })
    if (err) {
      setBusy(false)
      setError(errorText(err))
      return
    }
    setNotice(null)
    // profiles.role is the source of truth; the token's app_metadata.role mirrors it.
    const { data: prof } = await supabase.from('profiles').select('role').eq('id', data.user.id).maybeSingle()
    const r = prof?.role ?? data.user.app_metadata?.role ?? 'customer'
    navigate(homeFor(r), { replace: true })
  }

  return (
    <div className="login-page">
      <h1 className="brand big">TechCare</h1>
      <p className="muted">Book a technician, bid on jobs, chat — live.</p>
      {notice && (
        <p className="notice" role="status" data-testid="session-notice">
          {notice}
        </p>
      )}
      <form className="card form" onSubmit={submit} data-testid="login-form">
        <h2>Sign in</h2>
        <label htmlFor="login-email">Email</label>
        <input
          id="login-email"
          data-testid="login-email"
          type="email"
          autoComplete="username"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <label htmlFor="login-password">Password</label>
        <input
          id="login-password"
          data-testid="login-password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {error && (
          <p className="error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" data-testid="login-submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <section className="card">
        <h2>Demo accounts</h2>
        <p className="small muted">
          Click one to fill the form (password <code>{DEMO_PASSWORD}</code>), then sign in.
        </p>
        <ul className="demo-users">
          {DEMO_USERS.map(([addr, who, what]) => (
            <li key={addr}>
              <button
                type="button"
                className="link"
                data-testid={`demo-user-${addr}`}
                onClick={() => {
                  setEmail(addr)
                  setPassword(DEMO_PASSWORD)
                  setError(null)
                }}
              >
                {who}
              </button>{' '}
              <span className="small muted">
                {addr} — {what}
              </span>
            </li>
          ))}
        </ul>
      </section>
    </div>
  )
}
