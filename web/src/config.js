// Runtime configuration: the anon key is not baked into the build; the server
// (or, in development, Vite's proxy) serves it as /config.json next to the app.
export async function loadConfig() {
  let res
  try {
    res = await fetch('/config.json', { cache: 'no-store' })
  } catch {
    throw new Error('Cannot reach the TechCare server. Check your connection and try again.')
  }
  if (!res.ok) throw new Error(`The server did not send its configuration (HTTP ${res.status}).`)
  let cfg
  try {
    cfg = await res.json()
  } catch {
    throw new Error('The server sent a configuration that is not JSON.')
  }
  if (!cfg || typeof cfg.anonKey !== 'string' || !cfg.anonKey) {
    throw new Error('The server configuration has no anon key.')
  }
  return cfg
}
