// live-rows: a list of table rows a screen shows, kept whole across joins,
// rejoins and network cuts. It owns the order that cannot miss a change:
// subscribe, wait until the subscription is live, load, then apply the
// changes that arrived meanwhile, in commit order, each once. After a
// rejoin it reads again only when it must: when the server resumed the
// channel (it replays every change after the channel's last position), the
// rows it shows plus that replay are the database, and nothing is read. It
// never decides who may see a row (the server does, by row-level security)
// and never polls while the channel is live.

/** "16/B374D848" -> 0x16B374D848n; null when absent or malformed. */
export function parseLsn(text) {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text ?? '');
  return m ? (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`) : null;
}

const SEEN_MAX = 4096;

/**
 * rt: from createRealtime. opts:
 *   topic   channel topic (unique to this list's bindings)
 *   table, schema ('public'), filter (realtime filter, e.g. "customer_id=eq.<id>"), event ('*')
 *   key     primary-key column ('id')
 *   load    async () => rows: the list as the database has it now (throw on error)
 *   accept  row => boolean: whether a changed row belongs in the list (default: all)
 *   order   (a, b) => number for the rows' order (default: as loaded / arrived)
 * The caller must call release().
 */
export function liveRows(rt, { topic, table, schema = 'public', filter, event = '*', key = 'id', load, accept, order }) {
  const rows = new Map(); // key -> row
  const lastLsn = new Map(); // key -> BigInt of the last change applied to it
  const seen = new Set(); // "key|lsn|type" of recent changes, against duplicates
  const fns = new Set();
  let snap = { rows: [], status: 'loading', error: null, loadedAt: null };
  let loaded = false;
  // whole: these rows plus every change after the channel's position are
  // the database. True once a read completed (its snapshot is newer than
  // the position, and what came after it was applied or follows); false
  // when a read was cut short and the changes held for it were dropped.
  let whole = false;
  let inflight = false;
  let buffering = true;
  let buffer = [];
  let gen = 0;
  let pollTimer = null;
  let released = false;
  const keep = accept ?? (() => true);

  function publish(patch = {}) {
    let list = [...rows.values()];
    if (order) list.sort(order);
    snap = { ...snap, ...patch, rows: list };
    for (const fn of [...fns]) fn();
  }

  // Applies one change; false if it was a duplicate or older than what the
  // row already shows.
  function apply(c) {
    const row = c.eventType === 'DELETE' ? c.old : c.new;
    const id = row?.[key];
    if (id === undefined || id === null) return false;
    const lsn = parseLsn(c.lsn);
    if (lsn !== null) {
      const tag = `${id}|${c.lsn}|${c.eventType}|${c.commit_timestamp}`;
      if (seen.has(tag)) return false;
      const prev = lastLsn.get(id);
      if (prev !== undefined && lsn < prev) return false;
      seen.add(tag);
      if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
      lastLsn.set(id, lsn);
    }
    if (c.eventType === 'DELETE' || !keep(c.new)) rows.delete(id);
    else rows.set(id, { ...(rows.get(id) ?? {}), ...c.new });
    return true;
  }

  async function resync(why) {
    const my = ++gen;
    if (loaded && why !== 'refresh') handle.reread();
    inflight = true;
    buffering = true;
    buffer = [];
    try {
      const list = await load();
      if (my !== gen || released) return;
      inflight = false;
      whole = true;
      rows.clear();
      for (const r of list ?? []) if (keep(r)) rows.set(r[key], r);
      // Changes delivered while loading come after the subscription went
      // live, in commit order: applying them on top of the loaded rows
      // converges on what the database holds, whichever side of the read
      // each one committed.
      const pending = buffer;
      buffer = [];
      buffering = !handle.ready;
      for (const c of pending) apply(c);
      loaded = true;
      rt.note?.(`${topic}: loaded ${rows.size} row(s) (${why}), ${pending.length} change(s) applied after`);
      publish({ status: handle.ready ? 'live' : 'stale', error: null, loadedAt: Date.now() });
    } catch (err) {
      if (my !== gen || released) return;
      inflight = false;
      buffering = !handle.ready;
      for (const c of buffer) apply(c);
      buffer = [];
      publish({ status: loaded ? 'stale' : 'loading', error: `Could not load ${table}: ${err?.message ?? err}` });
    }
  }

  function startPolling() {
    if (pollTimer || released) return;
    const ms = rt.pollMs ?? 15000;
    pollTimer = setInterval(() => { if (!handle.ready) resync('poll while disconnected'); }, ms);
  }
  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  const binding = { event, schema, table };
  if (filter) binding.filter = filter;
  const handle = rt.channel(topic, { changes: [binding] }, {
    change(c) {
      if (buffering) buffer.push(c);
      else if (apply(c)) publish();
    },
    ready(joins, { resumed } = {}) {
      stopPolling();
      if (!(resumed && loaded && whole)) {
        resync(!loaded ? 'joined' : resumed ? 'rejoined, resumed but the list was not whole' : 'rejoined, not resumed');
        return;
      }
      // Resumed: the server replays what we missed, then continues live.
      // A poll's read still in flight would only race it.
      gen++;
      inflight = false;
      const pending = buffer;
      buffer = [];
      buffering = false;
      for (const c of pending) apply(c);
      rt.note?.(`${topic}: resumed, nothing read`);
      publish({ status: 'live', error: null });
    },
    status(status, message, { refused } = {}) {
      if (status === 'SUBSCRIBED') return;
      // A read cut short leaves the rows older than the position, and the
      // changes held for it are dropped: the next rejoin must read.
      if (inflight || buffer.length > 0) whole = false;
      inflight = false;
      buffering = true;
      buffer = [];
      gen++; // a load in flight would race the next join's
      publish({ status: loaded ? 'stale' : 'loading', error: refused && message ? `Live updates refused: ${message}` : snap.error });
      // Refused: the rows can still be read (the join and the table have
      // separate rules), so show them now, then poll as while disconnected.
      if (refused) resync('join refused');
      startPolling();
    },
  });
  // The browser offline with the socket still open (it may hold frames
  // until the network is back): the rows cannot be trusted to be current.
  const offState = rt.onState((st) => {
    if (st === 'offline' && snap.status === 'live') publish({ status: 'stale' });
    else if (st === 'live' && handle.ready && loaded && snap.status === 'stale') publish({ status: 'live' });
  });
  // Shared channel already live: its ready() will not come again for us.
  if (handle.ready) queueMicrotask(() => { if (!released) resync('joined a live channel'); });

  return {
    getSnapshot: () => snap,
    subscribe(fn) { fns.add(fn); return () => fns.delete(fn); },
    refresh: () => resync('refresh'),
    /** The caller's own write, as the database answered it (e.g. from
     * .update().select()): shown at once, for events a table does not publish. */
    upsert(row) {
      if (!row || row[key] === undefined) return;
      if (keep(row)) rows.set(row[key], { ...(rows.get(row[key]) ?? {}), ...row });
      else rows.delete(row[key]);
      publish();
    },
    release() {
      if (released) return;
      released = true;
      gen++;
      stopPolling();
      fns.clear();
      offState();
      handle.release();
    },
  };
}
