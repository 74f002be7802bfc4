// A small SVG line of the last values (no chart library): the newest value
// at the right edge, scaled between the series' min and max (0 included).
export function Sparkline({ values, width = 160, height = 36, label }) {
  const vs = values.filter((v) => v !== null && Number.isFinite(v))
  if (vs.length < 2) {
    return (
      <svg className="spark" width={width} height={height} role="img" aria-label={`${label}: waiting for data`}>
        <line x1="0" y1={height - 1} x2={width} y2={height - 1} className="spark-base" />
      </svg>
    )
  }
  const max = Math.max(...vs)
  const min = Math.min(0, ...vs)
  const span = max - min || 1
  const step = width / (values.length - 1)
  const pts = values
    .map((v, i) => (v === null || !Number.isFinite(v) ? null : `${(i * step).toFixed(1)},${(height - 2 - ((v - min) / span) * (height - 4)).toFixed(1)}`))
    .filter(Boolean)
    .join(' ')
  return (
    <svg className="spark" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${label}, last ${vs.length} samples, max ${max}`}>
      <line x1="0" y1={height - 1} x2={width} y2={height - 1} className="spark-base" />
      <polyline points={pts} className="spark-line" fill="none" />
    </svg>
  )
}
