// The frame of every signed-in screen: header (navigation, connection
// indicator, notifications, debug toggle, sign-out), the error messages, the
// optional debug panel, then the screen.
import { useState } from 'react'
import { NavLink, Outlet } from 'react-router'
import { useApp } from '../app-context.jsx'
import { ConnectionIndicator } from './ConnectionIndicator.jsx'
import { NotificationBell } from './NotificationBell.jsx'
import { DebugPanel } from './DebugPanel.jsx'

const NAV = {
  customer: [['/customer', 'My bookings']],
  technician: [['/technician', 'Jobs']],
  admin: [['/admin', 'Dashboard']],
}

export function Layout() {
  const { rt, role, name, signOut } = useApp()
  const [debug, setDebug] = useState(false)
  const [signingOut, setSigningOut] = useState(false)

  return (
    <div className="app">
      <header className="header">
        <div className="brand-row">
          <span className="brand">TechCare</span>
          <nav>
            {(NAV[role] || []).map(([to, label]) => (
              <NavLink key={to} to={to} end>
                {label}
              </NavLink>
            ))}
          </nav>
          <ConnectionIndicator rt={rt} />
        </div>
        <div className="tools">
          <NotificationBell />
          <button
            type="button"
            className="secondary"
            data-testid="debug-toggle"
            aria-pressed={debug}
            onClick={() => setDebug((d) => !d)}
          >
            {debug ? 'Hide debug' : 'Debug'}
          </button>
          <span className="who small" data-testid="signed-in-as" data-role={role || ''}>
            {name}
            {role ? ` (${role})` : ''}
          </span>
          <button
            type="button"
            className="secondary"
            data-testid="sign-out"
            disabled={signingOut}
            onClick={async () => {
              setSigningOut(true)
              await signOut()
            }}
          >
            {signingOut ? 'Signing out…' : 'Sign out'}
          </button>
        </div>
      </header>
      <ErrorList />
      {debug && <DebugPanel rt={rt} />}
      <main className="main">
        <Outlet />
      </main>
    </div>
  )
}

export function ErrorList() {
  const { errors, dismissError } = useApp()
  if (errors.length === 0) return null
  return (
    <div className="errors" role="alert" data-testid="error-banner">
      {errors.map((e) => (
        <div key={e.id} className="error-item" data-testid="error-message">
          <span>{e.text}</span>
          <button type="button" className="link" onClick={() => dismissError(e.id)}>
            Dismiss
          </button>
        </div>
      ))}
    </div>
  )
}
