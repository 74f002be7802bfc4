// Boot: read /config.json (the anon key), create the one Supabase client,
// then render. Without the configuration nothing can work, so say why.
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { BrowserRouter } from 'react-router'
import { loadConfig } from './config.js'
import { AppProvider } from './app-context.jsx'
import { App } from './App.jsx'
import './styles.css'

const root = createRoot(document.getElementById('root'))

function BootError({ message }) {
  return (
    <div className="login-page">
      <h1 className="brand big">TechCare</h1>
      <p className="error" role="alert" data-testid="boot-error">
        {message}
      </p>
      <button type="button" onClick={() => window.location.reload()}>
        Try again
      </button>
    </div>
  )
}

async function boot() {
  root.render(<p className="splash">Loading…</p>)
  // supabase-js is its own chunk, fetched while the configuration is read.
  let cfg, mod
  try {
    ;[cfg, mod] = await Promise.all([loadConfig(), import('./supabase.js')])
  } catch (err) {
    root.render(<BootError message={err.message || 'The app failed to load. Reload the page.'} />)
    return
  }
  const supabase = mod.initSupabase(cfg.anonKey)
  root.render(
    <StrictMode>
      <BrowserRouter>
        <AppProvider supabase={supabase} hadSession={mod.hadStoredSession()}>
          <App />
        </AppProvider>
      </BrowserRouter>
    </StrictMode>,
  )
}

boot()
