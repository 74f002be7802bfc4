// realtime: the app's one door to Realtime. It owns the connection state a
// person sees (connecting, live, reconnecting, offline), the channels the
// screens share, and the debug record of both. It never filters rows in the
// browser (the server authorizes every change), never re-subscribes on a
// token refresh (supabase-js hands the new token to the live channels), and
// never gives up reconnecting (realtime-js retries forever; we only watch).
//
// It remembers each channel's position in the server's change history (the
// last event's, docs/PROTOCOL.md "positions and resume") and puts it in the
// channel's join, so every rejoin, realtime-js's own or ours, asks the server
// to replay what the channel missed. Its ready() tells the lists whether the
// server did (resumed) or whether they must read again.
//
// No React here: screens reach it through small hooks, tests through Node.

const LINGER_MS = 1000; // a released channel waits this long for a re-acquire (React remounts, route changes)
const OFFLINE_AFTER_MS = 10000; // closed this long (or the browser says so): "offline", not "reconnecting"
const LAST_EVENTS = 20;
const LOG_LINES = 100;

/** Stable text for a spec, so equal specs compare equal whatever the key order. */
function specKey(spec) {
  const norm = (v) => {
    if (Array.isArray(v)) return v.map(norm);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => [k, norm(v[k])]));
    }
    return v;
  };
  return JSON.stringify(norm(spec ?? {}));
}

function summarize(kind, data) {
  if (kind === 'change') {
    const row = data.eventType === 'DELETE' ? data.old : data.new;
    return `${data.eventType} ${data.table} ${row?.id ?? ''}${data.lsn ? ` @${data.lsn}` : ''}`.trim();
  }
  if (kind === 'broadcast') return `broadcast ${data.event}`;
  if (kind === 'presence') return `presence ${Object.keys(data).length} key(s)`;
  return String(data ?? '');
}

/**
 * Creates the realtime service for one signed-in supabase client.
 * The caller keeps it for the session and calls close() at sign-out.
 */
export function createRealtime(supabase, { offlineAfterMs = OFFLINE_AFTER_MS, lingerMs = LINGER_MS, pollMs = 15000 } = {}) {
  const client = supabase.realtime;
  const entries = new Map(); // topic -> entry
  const stateFns = new Set();
  const debugFns = new Set();
  const log = [];
  let state = 'connecting';
  let socketOpen = client.isConnected();
  let everLive = false;
  let closedAt = socketOpen ? null : Date.now();
  let offlineTimer = null;
  let closed = false;
  const totals = { resumes: 0, rereads: 0 }; // over the session, for the indicator
  const browser = typeof globalThis.addEventListener === 'function' && typeof globalThis.navigator === 'object';
  let browserOnline = browser && 'onLine' in globalThis.navigator ? globalThis.navigator.onLine : true;

  const emitDebug = () => { for (const fn of debugFns) fn(); };
  const note = (text) => {
    log.push({ at: Date.now(), text });
    if (log.length > LOG_LINES) log.shift();
    emitDebug();
  };

  // ---- connection state -----------------------------------------------------
  // Computed from facts (socket open, channels joined, browser online), never
  // polled: every fact that changes calls recompute().
  function compute() {
    if (!browserOnline) return 'offline';
    const active = [...entries.values()].filter((e) => !e.removing);
    // A join the server refused is the screen's error to show, not a
    // connection problem: it does not hold the indicator back from live.
    // Nor does a channel joining for the first time while the connection is
    // up (a screen opening): only what was live and is not any more counts.
    const allReady = active.every((e) => e.ready || (socketOpen && (e.refused || (e.joins === 0 && everLive && !e.lost))));
    if (socketOpen && allReady) return 'live';
    if (!everLive) return 'connecting';
    if (!socketOpen && closedAt !== null && Date.now() - closedAt >= offlineAfterMs) return 'offline';
    return 'reconnecting';
  }
  function recompute() {
    const next = compute();
    if (next === 'live') everLive = true;
    if (next !== state) {
      state = next;
      note(`connection: ${state}`);
      for (const fn of stateFns) fn(state);
    }
  }
  function armOfflineTimer() {
    clearTimeout(offlineTimer);
    offlineTimer = null;
    if (!socketOpen && !closed) offlineTimer = setTimeout(recompute, offlineAfterMs + 5);
  }

  // The socket's own events. realtime-js exposes its callback lists; we add
  // ours next to its own, so a reconnect it makes is seen as it happens.
  const cbs = client.stateChangeCallbacks;
  const onOpen = () => {
    socketOpen = true;
    closedAt = null;
    // realtime-js rejoins every errored channel on a new socket; until it
    // answers, an error from the old socket is not a refusal.
    for (const e of entries.values()) if (!e.ready) { e.status = 'JOINING'; e.refused = false; }
    armOfflineTimer();
    note('socket open');
    recompute();
  };
  const onClose = (ev) => {
    if (socketOpen || closedAt === null) closedAt = Date.now();
    socketOpen = false;
    for (const e of entries.values()) { e.ready = false; e.lost = true; e.posThisJoin = false; }
    armOfflineTimer();
    note(`socket closed${ev?.code ? ` (${ev.code})` : ''}`);
    recompute();
  };
  const onError = () => note('socket error');
  // Runs right after realtime-js has handed a message to its channel, in
  // the same task: the change handlers queued the changes, this adds the
  // commit LSN realtime-js drops from the payload it gives them.
  const onMessage = (msg) => {
    if (msg?.event !== 'postgres_changes') return;
    const e = entries.get(String(msg.topic).replace(/^realtime:/, ''));
    const lsn = msg.payload?.data?.lsn ?? null;
    if (e && lsn) for (const c of e.unstamped) c.lsn = lsn;
    if (e) e.unstamped.length = 0;
  };
  cbs.open.push(['tc-realtime', onOpen]);
  cbs.close.push(['tc-realtime', onClose]);
  cbs.error.push(['tc-realtime', onError]);
  cbs.message.push(['tc-realtime', onMessage]);

  const onBrowserOnline = () => { browserOnline = true; note('browser online'); recompute(); };
  const onBrowserOffline = () => { browserOnline = false; note('browser offline'); recompute(); };
  if (browser) {
    globalThis.addEventListener('online', onBrowserOnline);
    globalThis.addEventListener('offline', onBrowserOffline);
  }

  // supabase-js passes a refreshed token to realtime (setAuth) itself, which
  // sends it to every joined channel: nothing to re-subscribe. We only record it.
  const { data: authSub } = supabase.auth.onAuthStateChange((event) => {
    if (event === 'TOKEN_REFRESHED') note('token refreshed: handed to the live channels');
  });

  // ---- shared channels --------------------------------------------------------
  function record(e, kind, data) {
    e.events++;
    e.last.push({ at: Date.now(), kind, summary: summarize(kind, data) });
    if (e.last.length > LAST_EVENTS) e.last.shift();
    emitDebug();
  }
  function dispatch(e, name, ...args) {
    for (const h of [...e.listeners]) {
      try { h[name]?.(...args); } catch (err) { note(`${e.topic}: a ${name} handler threw: ${err?.message ?? err}`); }
    }
  }
  // Handlers get (status, message, { refused }): refused is true when the
  // server answered the join with an error while the socket stayed open.
  function setStatus(e, status, message) {
    e.status = status;
    e.error = message ?? null;
    note(`${e.topic}: ${status}${message ? ` (${message})` : ''}`);
    dispatch(e, 'status', status, e.error, { refused: !!e.refused });
  }
  // A join is "ready" once its Postgres Changes are live: realtime's
  // system message says so; without bindings the join's answer is enough.
  // Handlers get ready(joins, { resumed }): resumed is true when the server
  // answered the join's resume with a replay of everything after our
  // position (recovered: true), so a list that was whole needs no re-read.
  function markReady(e, sys) {
    if (e.ready || e.status !== 'SUBSCRIBED') return;
    e.ready = true;
    e.lost = false;
    e.reopenTries = 0;
    e.joins++;
    const asked = e.joins > 1 && sys?.recovered !== undefined;
    const resumed = asked && sys.recovered === true;
    if (resumed) { e.resumes++; totals.resumes++; }
    e.resume = e.joins === 1 ? null : resumed ? 'resumed' : asked ? `not resumed: ${sys.reason ?? 'no reason given'}` : 'not resumed';
    note(`${e.topic}: ready (join ${e.joins}${e.resume ? `, ${e.resume}` : ''})`);
    dispatch(e, 'ready', e.joins, { resumed });
    recompute();
  }
  // The last position this channel saw, in its join payload: realtime-js
  // sends the join payload with every rejoin, so each asks to resume after
  // it. Positions are opaque strings; we only keep the latest.
  function remember(e, ch, position) {
    if (typeof position !== 'string' || position === '' || ch !== e.ch) return;
    e.position = position;
    ch.updateJoinPayload({ postgres_changes_resume: { after: position } });
  }

  function open(e) {
    const { spec } = e;
    const ch = supabase.channel(e.topic, {
      config: {
        private: !!spec.private,
        broadcast: { self: !!spec.broadcast?.self, ack: !!spec.broadcast?.ack },
        presence: { key: spec.presence?.key ?? '' },
      },
    });
    e.ch = ch;
    // A new channel for a topic we followed (the server closed the old
    // one): it resumes too. subscribe() merges its own keys into this.
    if (e.position) ch.updateJoinPayload({ postgres_changes_resume: { after: e.position } });
    for (const b of spec.changes ?? []) {
      const binding = { event: b.event ?? '*', schema: b.schema ?? 'public', table: b.table };
      if (b.filter) binding.filter = b.filter;
      // realtime-js passes the message's ref, the change's position, second.
      ch.on('postgres_changes', binding, (payload, position) => {
        e.posThisJoin = true;
        remember(e, ch, position);
        const change = { ...payload, lsn: null };
        e.unstamped.push(change);
        // The LSN arrives in the message callback of this same task.
        queueMicrotask(() => { record(e, 'change', change); dispatch(e, 'change', change); });
      });
    }
    if (spec.broadcast) {
      ch.on('broadcast', { event: '*' }, (m) => { record(e, 'broadcast', m); dispatch(e, 'broadcast', m.event, m.payload); });
    }
    if (spec.presence) {
      ch.on('presence', { event: 'sync' }, () => {
        const ps = ch.presenceState();
        record(e, 'presence', ps);
        dispatch(e, 'presence', ps);
      });
    }
    ch.on('system', {}, (p) => {
      if (p?.extension !== 'postgres_changes') return;
      if (p.status !== 'ok') {
        e.refused = socketOpen;
        setStatus(e, 'CHANNEL_ERROR', p.message || 'Postgres Changes refused');
        return;
      }
      if (p.message === 'Position') {
        // A quiet channel's newer position (PROTOCOL.md, resume, 6): it
        // keeps a rejoin inside the server's history window.
        remember(e, ch, p.position);
        return;
      }
      if (!e.ready) {
        // Where this join's delivery starts: our position until an event
        // brings a newer one (recovered: true), else the new start.
        if (!e.posThisJoin) remember(e, ch, p.position);
        markReady(e, p);
        return;
      }
      // A second one, while the channel was catching up: the history's
      // bounds passed it (PROTOCOL.md, resume, 5). Live from its position
      // on; what was missed must be read again.
      if (p.recovered !== false) return;
      remember(e, ch, p.position);
      e.resume = `not resumed: ${p.reason ?? 'the history moved past it while catching up'}`;
      note(`${e.topic}: ${e.resume}`);
      dispatch(e, 'ready', e.joins, { resumed: false });
    });
    ch.subscribe((status, err) => {
      if (e.removing || e.ch !== ch) return;
      e.ready = false;
      e.posThisJoin = false;
      if (status === 'CLOSED') {
        // The server closed the channel (its token expired, a policy
        // changed, the channel was shut down). realtime-js does not rejoin
        // a closed channel, so we do: a new join with the current token,
        // which the server answers or refuses in words.
        setStatus(e, status, 'closed by the server; joining again');
        reopen(e);
        recompute();
        return;
      }
      if (status === 'CHANNEL_ERROR') {
        // A dropped socket errors its channels just before its own close
        // callbacks run, in the same task: decide after them whether the
        // server refused this join or the connection went away.
        queueMicrotask(() => {
          if (e.removing) return;
          e.refused = socketOpen;
          setStatus(e, status, e.refused ? err?.message : `connection lost${err?.message ? ` (${err.message})` : ''}`);
          recompute();
        });
        return;
      }
      e.refused = false;
      setStatus(e, status, err?.message);
      if (status === 'SUBSCRIBED' && !(spec.changes?.length > 0)) markReady(e);
      recompute();
    });
  }

  const REOPEN_MS = [1000, 2000, 5000, 10000];
  function reopen(e) {
    const old = e.ch;
    const wait = REOPEN_MS[Math.min(e.reopenTries++, REOPEN_MS.length - 1)];
    note(`${e.topic}: closed by the server, joining again in ${wait} ms`);
    clearTimeout(e.reopenTimer);
    e.reopenTimer = setTimeout(async () => {
      if (e.removing) return;
      await supabase.removeChannel(old).catch(() => {});
      if (!e.removing && e.ch === old) open(e);
    }, wait);
  }

  async function remove(e) {
    clearTimeout(e.reopenTimer);
    e.removing = true;
    entries.delete(e.topic);
    note(`${e.topic}: removed`);
    const done = e.ch ? supabase.removeChannel(e.ch).catch(() => 'error') : Promise.resolve('ok');
    e.removed = done;
    recompute();
    await done;
  }

  /**
   * Joins (or shares) the channel `topic`. Every caller gets every event;
   * release() drops only the caller's handlers, and the channel itself once
   * nobody holds it. The caller must call release().
   */
  function channel(topic, spec = {}, handlers = {}) {
    if (closed) throw new Error('realtime: used after close()');
    const key = specKey(spec);
    let e = entries.get(topic);
    if (e && e.key !== key) {
      throw new Error(`realtime: topic "${topic}" is already joined with other bindings; give this subscription its own topic`);
    }
    if (!e) {
      e = {
        topic, key, spec, ch: null, listeners: new Set(), status: 'JOINING', error: null, ready: false,
        joins: 0, events: 0, last: [], unstamped: [], lingerTimer: null, removing: false, refused: false,
        lost: false, reopenTries: 0, reopenTimer: null,
        position: null, posThisJoin: false, resume: null, resumes: 0, rereads: 0,
      };
      entries.set(topic, e);
      // A channel of the same topic still leaving must be gone first, or
      // realtime-js would hand back the leaving one.
      const prev = pendingRemovals.get(topic);
      if (prev) prev.then(() => { if (!e.removing) open(e); });
      else open(e);
      note(`${topic}: joining`);
      recompute();
    }
    clearTimeout(e.lingerTimer);
    e.lingerTimer = null;
    const mine = { ...handlers };
    e.listeners.add(mine);
    emitDebug();
    const entry = e;
    let released = false;
    return {
      get status() { return entry.status; },
      get ready() { return entry.ready; },
      get error() { return entry.error; },
      get refused() { return entry.refused; },
      release() {
        if (released) return;
        released = true;
        entry.listeners.delete(mine);
        emitDebug();
        if (entry.listeners.size === 0 && !entry.removing) {
          entry.lingerTimer = setTimeout(() => {
            if (entry.listeners.size > 0 || entry.removing) return;
            const p = remove(entry);
            pendingRemovals.set(topic, p);
            p.finally(() => { if (pendingRemovals.get(topic) === p) pendingRemovals.delete(topic); });
          }, lingerMs);
        }
      },
      send(event, payload) {
        return entry.ch.send({ type: 'broadcast', event, payload });
      },
      track(obj) { return entry.ch.track(obj); },
      untrack() { return entry.ch.untrack(); },
      presenceState() { return entry.ch ? entry.ch.presenceState() : {}; },
      /** A list of this channel read its rows again (not its first read,
       * not an asked-for refresh): counted, so one can see resume at work. */
      reread() { entry.rereads++; totals.rereads++; emitDebug(); },
    };
  }
  const pendingRemovals = new Map();

  return {
    get state() { return state; },
    pollMs,
    onState(fn) { stateFns.add(fn); return () => stateFns.delete(fn); },
    onDebug(fn) { debugFns.add(fn); return () => debugFns.delete(fn); },
    /** Over the session: rejoins the server resumed, lists read again. */
    get totals() { return { ...totals }; },
    channel,
    note,
    debug() {
      return {
        state,
        channels: [...entries.values()].map((e) => ({
          topic: e.topic, status: e.status, ready: e.ready, refused: e.refused, refs: e.listeners.size, joins: e.joins,
          events: e.events, error: e.error, last: [...e.last],
          position: e.position, resume: e.resume, resumes: e.resumes, rereads: e.rereads,
        })),
        log: [...log],
      };
    },
    /** Sign-out: every channel left, the socket closed, nothing kept. */
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(offlineTimer);
      authSub?.subscription?.unsubscribe();
      if (browser) {
        globalThis.removeEventListener('online', onBrowserOnline);
        globalThis.removeEventListener('offline', onBrowserOffline);
      }
      const all = [...entries.values()];
      for (const e of all) clearTimeout(e.lingerTimer);
      await Promise.all([...all.map((e) => remove(e)), ...pendingRemovals.values()]);
      for (const k of ['open', 'close', 'error', 'message']) {
        const list = cbs[k];
        for (let i = list.length - 1; i >= 0; i--) if (list[i][0] === 'tc-realtime') list.splice(i, 1);
      }
      await client.disconnect();
      stateFns.clear();
      debugFns.clear();
    },
  };
}
