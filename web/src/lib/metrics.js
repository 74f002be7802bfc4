// Prometheus text exposition format (version 0.0.4), parsed into plain
// numbers for the admin's server panel. Pure functions, no I/O.

// Parses one label set `{a="x",b="y\"z"}` starting at text[i] === '{'.
// Returns [labels, index after '}'].
function parseLabels(text, i) {
  const labels = {}
  i++ // '{'
  while (i < text.length && text[i] !== '}') {
    while (text[i] === ' ' || text[i] === ',') i++
    if (text[i] === '}') break
    const eq = text.indexOf('=', i)
    if (eq < 0) throw new Error('label without =')
    const name = text.slice(i, eq).trim()
    i = eq + 1
    if (text[i] !== '"') throw new Error('label value not quoted')
    i++
    let value = ''
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < text.length) {
        const n = text[i + 1]
        value += n === 'n' ? '\n' : n
        i += 2
      } else {
        value += text[i++]
      }
    }
    i++ // closing quote
    labels[name] = value
  }
  return [labels, i + 1]
}

function parseValue(s) {
  if (s === '+Inf') return Infinity
  if (s === '-Inf') return -Infinity
  if (s === 'NaN') return NaN
  const v = Number(s)
  return Number.isNaN(v) ? undefined : v
}

/**
 * parseMetrics(text) -> { samples: [{ name, labels, value }], types: { name: type },
 *                        get(name, labels?) -> number | undefined }
 * get() sums every sample of `name` whose labels include `labels` (all, when
 * none are given); undefined when there is no such sample. Lines that do not
 * parse are skipped: the panel shows what it can.
 */
export function parseMetrics(text) {
  const samples = []
  const types = {}
  for (const raw of String(text).split('\n')) {
    const line = raw.trim()
    if (!line) continue
    if (line.startsWith('#')) {
      const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line)
      if (m) types[m[1]] = m[2]
      continue
    }
    try {
      const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)
      if (!m) continue
      const name = m[0]
      let i = name.length
      let labels = {}
      if (line[i] === '{') [labels, i] = parseLabels(line, i)
      const value = parseValue(line.slice(i).trim().split(/\s+/)[0])
      if (value === undefined) continue
      samples.push({ name, labels, value })
    } catch {
      // a malformed line: skip it
    }
  }
  const get = (name, want = {}) => {
    let sum
    for (const s of samples) {
      if (s.name !== name) continue
      if (Object.entries(want).some(([k, v]) => s.labels[k] !== v)) continue
      sum = (sum ?? 0) + s.value
    }
    return sum
  }
  return { samples, types, get }
}

/**
 * Per-second rate of a counter between two scrapes ({ at: ms, metrics }).
 * A counter that went down (the server restarted) gives null, not a
 * negative rate.
 */
export function counterRate(prev, cur, name) {
  if (!prev || !cur) return null
  const a = prev.metrics.get(name)
  const b = cur.metrics.get(name)
  const dt = (cur.at - prev.at) / 1000
  if (a === undefined || b === undefined || dt <= 0 || b < a) return null
  return (b - a) / dt
}
