// Live server panel: scrapes GET /metrics (Prometheus text) every 2 s while
// the page is visible and draws the last two minutes as sparklines.
import { useEffect, useRef, useState } from 'react'
import { counterRate, parseMetrics } from '../../lib/metrics.js'
import { bytes } from '../../lib/format.js'
import { Sparkline } from '../../components/Sparkline.jsx'

const EVERY_MS = 2000
const KEEP = 60

const SERIES = [
  { key: 'connections', label: 'Connections', gauge: 'realtime_connections' },
  { key: 'channels', label: 'Channels', gauge: 'realtime_channels' },
  { key: 'messages-rate', label: 'Messages out / s', rate: 'realtime_messages_out_total', digits: 1 },
  { key: 'messages-in-rate', label: 'Messages in / s', rate: 'realtime_messages_in_total', digits: 1 },
  { key: 'cdc-events-rate', label: 'Postgres Changes events / s', rate: 'realtime_cdc_events_total', digits: 1 },
  { key: 'cdc-lag', label: 'Postgres Changes lag (commit → sent), ms', gauge: 'realtime_cdc_lag_ms' },
  { key: 'cdc-queue', label: 'Changes queue (waiting to be authorized)', gauge: 'realtime_cdc_queue_bytes', fmt: bytes },
  { key: 'cdc-backlog', label: 'Changes backlog (queued to clients)', gauge: 'realtime_cdc_backlog_bytes', fmt: bytes },
  { key: 'cdc-queued-tx', label: 'Transactions waiting', gauge: 'realtime_cdc_queued_transactions' },
]

export function ServerPanel() {
  const [samples, setSamples] = useState([]) // [{ at, metrics, values: { key: number|null } }]
  const [error, setError] = useState(null)
  const [streaming, setStreaming] = useState(null)
  const last = useRef(null)

  useEffect(() => {
    let timer = null
    let stopped = false
    async function scrape() {
      timer = null
      if (stopped || document.visibilityState !== 'visible') return
      try {
        const res = await fetch('/metrics', { cache: 'no-store' })
        if (!res.ok) throw new Error(`HTTP ${res.status}`)
        const cur = { at: Date.now(), metrics: parseMetrics(await res.text()) }
        const values = {}
        for (const s of SERIES) values[s.key] = s.gauge ? cur.metrics.get(s.gauge) ?? null : counterRate(last.current, cur, s.rate)
        last.current = cur
        if (!stopped) {
          setSamples((old) => [...old.slice(-(KEEP - 1)), { at: cur.at, values }])
          setStreaming(cur.metrics.get('realtime_cdc_streaming') ?? null)
          setError(null)
        }
      } catch (err) {
        if (!stopped) setError(`Cannot read the server's metrics: ${err.message || err}`)
      }
      if (!stopped) timer = setTimeout(scrape, EVERY_MS)
    }
    const onVisible = () => {
      if (document.visibilityState === 'visible' && !timer) {
        last.current = null // a gap: no rate across it
        scrape()
      }
    }
    document.addEventListener('visibilitychange', onVisible)
    scrape()
    return () => {
      stopped = true
      clearTimeout(timer)
      document.removeEventListener('visibilitychange', onVisible)
    }
  }, [])

  const latest = samples[samples.length - 1]
  return (
    <section className="card" data-testid="server-panel">
      <div className="card-head">
        <h2>Server</h2>
        <span className="small muted">
          {streaming === 1 ? 'Postgres Changes streaming' : streaming === 0 ? 'Postgres Changes NOT streaming' : ''}
        </span>
      </div>
      {error && <p className="error" data-testid="metrics-error">{error}</p>}
      <div className="metrics">
        {SERIES.map((s) => {
          const v = latest?.values[s.key]
          const shown = v === null || v === undefined ? '—' : s.fmt ? s.fmt(v) : v.toFixed(s.digits || 0)
          return (
            <div key={s.key} className="metric" data-testid={`metric-${s.key}`} data-value={v ?? ''}>
              <div className="small muted">{s.label}</div>
              <div className="metric-value">{shown}</div>
              <Sparkline values={samples.map((x) => x.values[s.key])} label={s.label} />
            </div>
          )
        })}
      </div>
    </section>
  )
}
