// Randomized agreement test for Postgres Changes: what the server delivers
// to each binding equals what PostgreSQL itself says each binding should
// get, over many random (subscription, change) cases.
//
// Subscribers: every demo user plus extra customers and technicians made
// here, an anon client and two service_role clients, each with two channels
// of random bindings (random table, event, and filter drawn from the whole
// grammar on random columns, with values from the same small pools the
// writer uses, so that filters often match; sometimes no filter). A
// service_role "sentinel" sees every published change.
//
// The writer makes one random INSERT/UPDATE/DELETE per transaction as the
// superuser with session_replication_role = replica (the schema's triggers
// would rewrite or refuse most random changes; foreign keys are kept valid
// by choosing existing rows), then waits until the sentinel has the change,
// so the server has checked it before the next write and "the live state"
// of the tables the policies read is the state right after that change.
// For each change the oracle asks PostgreSQL, before the next write:
//   filter: the binding's conditions as a SQL WHERE on the row image (NEW
//           for INSERT/UPDATE, OLD for DELETE; a DELETE of a table with
//           replica identity DEFAULT carries only the key, so a condition
//           on another column is unknown and fails);
//   RLS:    EXISTS(SELECT 1 FROM t WHERE id = ...) run as the subscriber
//           (SET LOCAL ROLE + request.jwt.claims), after the commit for
//           INSERT/UPDATE, just before the delete for DELETE (for a
//           key-only DELETE, on the row with every non-key column set to
//           NULL, in a transaction that is rolled back);
//   event:  the binding's event and the table's published events
//           (messages, notifications, payments: INSERT only).
// A binding must receive a change iff all three hold. Compared with the
// binding ids each channel really received (raw frames) and with the
// supabase-js callbacks per binding.
//
// Replayed changes (docs/PROTOCOL.md, "Postgres Changes: positions and
// resume"): every principal also has a second connection with 3 channels
// of random bindings, each joined with postgres_changes_resume, whose
// binding callbacks store the position realtime-js hands them as the
// second argument (channel.updateJoinPayload), as an app would. The writer
// works in rounds of up to 60 changes; between rounds (the writer paused)
// the connections that were down connect() again and realtime-js rejoins
// their channels with their positions, twice per run every principal
// opens 2 more channels that join late with an old position (the start, or
// any earlier change), and the oracle judges, per channel, every change
// after its position, now: the filter on the change's row image, and RLS
// as EXISTS run as the subscriber with the image put back in place of
// whatever has that id now (in a transaction that is rolled back; the
// state of the other tables the policies read is the current one). Then a
// sync marker (an UPDATE of a verified technician's profile, which every
// replay channel but anon's has a binding for, delivered in order after
// the replay) ends the boundary, and 60 % of the replay connections go down
// (realtime-js disconnect()) for the next round. While the channels resume
// and catch up, the writer keeps committing changes whose verdicts cannot
// depend on the moment (notifications, the sync technician's avatar), so
// the seam between replay and live is crossed under load. While up, a
// replay channel's changes are judged live like the others. Half the
// replay channels do not take their resume position from sync markers,
// so they resume from further back. The model: a change is judged for a
// channel live when it is up, else at its next resume, and again at every
// later resume from a position before it (so a change refused then may be
// owed now, and one delivered before is owed again); each (change,
// binding) must arrive once per verdict "deliver", by frame and by
// callback, with `recovered: true` and `position` = the position each
// (re)join asked for, and each rejoin asking with the position of the
// last change delivered. Replayed (change, binding) judgments count as
// cases too.
//
// TC_RANDOM_CASES (default 100000) sets how many (binding, change) cases,
// live and replayed, counting bindings on the changed table; TC_RANDOM_SEED
// replays a run.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { T, waitFor } from './harness.mjs';
import { DEMO, startStack } from './dbharness.mjs';

const CASES = Number(process.env.TC_RANDOM_CASES || 100000);
const SEED = Number(process.env.TC_RANDOM_SEED || crypto.randomInt(1, 2 ** 31));

// ---- deterministic randomness -------------------------------------------

function mulberry32(a) {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(SEED);
const int = (n) => Math.floor(rand() * n);
const pick = (xs) => xs[int(xs.length)];
const chance = (p) => rand() < p;
const uuid = () => {
  const h = Array.from({ length: 32 }, () => '0123456789abcdef'[int(16)]).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};
const weighted = (pairs) => {
  const total = pairs.reduce((s, [, w]) => s + w, 0);
  let r = rand() * total;
  for (const [v, w] of pairs) { r -= w; if (r < 0) return v; }
  return pairs[pairs.length - 1][0];
};

// ---- value pools (shared by the writer and the filters) ------------------

const TEXTS = ['alpha', 'Alpha', 'beta', 'gamma 1', 'delta-x', 'Zulu', 'omega', 'al', 'ALPHA beta'];
const NUMS = ['1', '10', '25.5', '50', '99.99', '100', '120', '150', '200'];
const HOUR = 3600 * 1000;
const BASE = Math.floor(Date.now() / HOUR) * HOUR;
const TIMES = [-48, -3, -1, 0, 1, 2, 5, 72].map((h) => new Date(BASE + h * HOUR).toISOString().replace('.000Z', 'Z'));
const ENUMS = {
  app_role: ['customer', 'technician', 'admin'],
  booking_status: ['pending', 'accepted', 'in_progress', 'completed', 'cancelled'],
  bid_status: ['pending', 'accepted', 'rejected', 'withdrawn'],
  payment_status: ['pending', 'succeeded', 'failed', 'refunded'],
  review_status: ['visible', 'hidden', 'flagged'],
};
const LIKES = ['al%', '%a%', 'A_pha', '%1', 'Z%', '%', 'alpha', '%-%'];
const REGEXES = ['^a', 'a$', 'l.h', '[0-9]', '^(alpha|beta)$', 'ZU', '^.{4}$'];
const CURRENCIES = ['USD', 'EUR', 'GBP'];

// ---- the tables ---------------------------------------------------------

// kind: uuid:<pool> | enum:<type> | text | num | int | bool | ts | bpchar | opaque (jsonb/array: is.null only)
const TABLES = {
  profiles: { keyOnly: true, events: ['INSERT', 'UPDATE', 'DELETE'], cols: {
    id: 'uuid:users', role: 'enum:app_role', full_name: 'text', phone: 'text', avatar_url: 'text', created_at: 'ts', updated_at: 'ts' } },
  technicians: { events: ['INSERT', 'UPDATE', 'DELETE'], cols: {
    id: 'uuid:users', services: 'opaque', hourly_rate: 'num', rating: 'num', rating_count: 'int', is_verified: 'bool',
    verified_at: 'ts', bio: 'text', created_at: 'ts', updated_at: 'ts' } },
  bookings: { events: ['INSERT', 'UPDATE', 'DELETE'], cols: {
    id: 'uuid:bookings', customer_id: 'uuid:users', technician_id: 'uuid:users', status: 'enum:booking_status', service: 'text',
    description: 'text', scheduled_at: 'ts', address: 'text', price: 'num', created_at: 'ts', updated_at: 'ts' } },
  bids: { events: ['INSERT', 'UPDATE', 'DELETE'], cols: {
    id: 'uuid:bids', booking_id: 'uuid:bookings', technician_id: 'uuid:users', amount: 'num', message: 'text',
    status: 'enum:bid_status', created_at: 'ts', updated_at: 'ts' } },
  messages: { events: ['INSERT'], cols: {
    id: 'uuid:messages', booking_id: 'uuid:bookings', sender_id: 'uuid:users', body: 'text', created_at: 'ts' } },
  notifications: { events: ['INSERT'], cols: {
    id: 'uuid:notifications', user_id: 'uuid:users', type: 'text', title: 'text', body: 'text', data: 'opaque', read_at: 'ts',
    created_at: 'ts' } },
  payments: { events: ['INSERT'], cols: {
    id: 'uuid:payments', booking_id: 'uuid:bookings', customer_id: 'uuid:users', technician_id: 'uuid:users', amount: 'num',
    currency: 'bpchar', status: 'enum:payment_status', provider_ref: 'text', created_at: 'ts', updated_at: 'ts' } },
  reviews: { keyOnly: true, events: ['INSERT', 'UPDATE', 'DELETE'], cols: {
    id: 'uuid:reviews', booking_id: 'uuid:bookings', customer_id: 'uuid:users', technician_id: 'uuid:users', rating: 'int',
    comment: 'text', status: 'enum:review_status', created_at: 'ts', updated_at: 'ts' } },
};
const TABLE_NAMES = Object.keys(TABLES);

const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

// ---- random filters -----------------------------------------------------

/** Ids known per pool, for uuid filter values (filled from the database). */
const pools = { users: [], bookings: [], bids: [], messages: [], notifications: [], payments: [], reviews: [] };

function valueFor(kind) {
  const [k, arg] = kind.split(':');
  switch (k) {
    case 'uuid': return chance(0.1) || !pools[arg].length ? uuid() : pick(pools[arg]);
    case 'enum': return chance(0.05) ? 'ghost' : pick(ENUMS[arg]);
    case 'text': return pick(TEXTS);
    case 'num': return pick(NUMS);
    case 'int': return String(1 + int(5));
    case 'bool': return pick(['true', 'false']);
    case 'ts': return pick(TIMES);
    case 'bpchar': return pick(CURRENCIES);
    default: throw new Error(kind);
  }
}

/** SQL literal of a filter value for a column kind. */
function lit(kind, v) {
  const [k, arg] = kind.split(':');
  switch (k) {
    case 'uuid': return `${q(v)}::uuid`;
    case 'enum': return q(v); // compared as text: a label not in the enum just never matches
    case 'text': return `${q(v)} collate "C"`;
    case 'num': return `${q(v)}::numeric`;
    case 'int': return `${q(v)}::int`;
    case 'bool': return `${q(v)}::boolean`;
    case 'ts': return `${q(v)}::timestamptz`;
    case 'bpchar': return `${q(v)}::bpchar`;
    default: throw new Error(`${kind} ${arg}`);
  }
}
const colExpr = (col, kind) => (kind.startsWith('enum:') ? `${col}::text` : kind === 'text' ? `${col} collate "C"` : col);

/** One random condition on a column of table: {col, text (filter syntax), sql}. */
function randomCondition(table) {
  const cols = TABLES[table].cols;
  const col = pick(Object.keys(cols));
  const kind = cols[col];
  const k = kind.split(':')[0];
  const ops = k === 'opaque' ? ['is']
    : k === 'enum' ? ['eq', 'neq', 'in', 'is', 'isdistinct']
      : k === 'bool' ? ['eq', 'neq', 'is', 'isdistinct']
        : k === 'text' ? ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in', 'like', 'ilike', 'match', 'imatch', 'is', 'isdistinct']
          : ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in', 'is', 'isdistinct'];
  const op = pick(ops);
  const neg = chance(0.15);
  const c = colExpr(col, kind);
  let value, sql;
  switch (op) {
    case 'eq': case 'neq': case 'lt': case 'lte': case 'gt': case 'gte': {
      value = valueFor(kind);
      const sqlOp = { eq: '=', neq: '<>', lt: '<', lte: '<=', gt: '>', gte: '>=' }[op];
      sql = `${c} ${sqlOp} ${lit(kind, value)}`;
      break;
    }
    case 'in': {
      const vs = [...new Set(Array.from({ length: 1 + int(4) }, () => valueFor(kind)))];
      value = `(${vs.join(',')})`;
      sql = `${c} = any(array[${vs.map((v) => lit(kind, v)).join(', ')}])`;
      break;
    }
    case 'like': case 'ilike': {
      value = pick(LIKES);
      sql = `${col} ${op === 'like' ? 'like' : 'ilike'} ${q(value)}`;
      break;
    }
    case 'match': case 'imatch': {
      value = pick(REGEXES);
      sql = `${col} ${op === 'match' ? '~' : '~*'} ${q(value)}`;
      break;
    }
    case 'is': {
      value = k === 'bool' ? pick(['null', 'true', 'false', 'unknown']) : 'null';
      sql = `${col} is ${value}`;
      break;
    }
    case 'isdistinct': {
      value = valueFor(kind);
      sql = `${c} is distinct from ${lit(kind, value)}`;
      break;
    }
    default: throw new Error(op);
  }
  return { col, text: `${col}=${neg ? 'not.' : ''}${op}.${value}`, sql: neg ? `not (${sql})` : `(${sql})` };
}

function randomBinding(table) {
  // The server refuses a join for an event it does not publish on the table.
  const event = pick(TABLES[table].events.length === 3 ? ['*', 'INSERT', 'UPDATE', 'DELETE'] : ['*', 'INSERT']);
  const conds = chance(0.2) ? [] : chance(0.85) ? [randomCondition(table)] : [randomCondition(table), randomCondition(table)];
  return { table, event, conds, filter: conds.map((c) => c.text).join(',') };
}

// ---- the writer's random changes ---------------------------------------

const maybe = (v, p = 0.3) => (chance(p) ? 'null' : v);
const textLit = () => q(pick(TEXTS));
const numLit = () => pick(NUMS);
const tsLit = () => `${q(pick(TIMES))}::timestamptz`;

/**
 * Picks one random change. Returns {table, op, sql} where sql writes one row
 * and returns its id (`returning id`), or for a DELETE {table, op, pickSql}
 * (a query for the id of a row that may be deleted) and del(id).
 */
function randomChange(st) {
  const table = weighted([['bookings', 3], ['bids', 2], ['messages', 1], ['notifications', 1], ['payments', 1],
    ['reviews', 1.5], ['profiles', 1], ['technicians', 1.5]]);
  const op = weighted([['INSERT', 4], ['UPDATE', 4], ['DELETE', 2]]);
  const rnd = (t, where = 'true') => `(select id from public.${t} where ${where} order by random() limit 1)`;
  const customer = () => (chance(0.8) ? q(pick(st.customers)) : q(pick(pools.users)));
  const tech = () => q(pick(st.technicians));
  const touch = ', updated_at = clock_timestamp()';
  const del = (where = 'true') => ({ table, op, pickSql: `select id from public.${table} where ${where} order by random() limit 1;` });
  switch (`${table}.${op}`) {
    case 'bookings.INSERT':
      return { table, op, sql: `insert into public.bookings (customer_id, technician_id, status, service, description, scheduled_at, address, price) values (${customer()}, ${chance(0.4) ? 'null' : tech()}, ${q(pick(ENUMS.booking_status))}, ${textLit()}, ${maybe(textLit())}, ${maybe(tsLit())}, ${maybe(textLit(), 0.1)}, ${maybe(numLit(), 0.2)}) returning id;` };
    case 'bookings.UPDATE': {
      const sets = [];
      const n = 1 + int(2);
      for (let i = 0; i < n; i++) {
        sets.push(pick([`status = ${q(pick(ENUMS.booking_status))}`, `technician_id = ${chance(0.3) ? 'null' : tech()}`,
          `price = ${maybe(numLit(), 0.2)}`, `service = ${textLit()}`, `description = ${maybe(textLit())}`,
          `address = ${maybe(textLit(), 0.1)}`, `scheduled_at = ${maybe(tsLit())}`, `customer_id = ${customer()}`]));
      }
      return { table, op, sql: `update public.bookings set ${[...new Set(sets.map((s) => s.split(' = ')[0]))].map((c) => sets.find((s) => s.startsWith(`${c} =`))).join(', ')}${touch} where id = ${rnd('bookings')} returning id;` };
    }
    case 'bookings.DELETE':
      return del(`not exists (select 1 from public.bids x where x.booking_id = bookings.id)
        and not exists (select 1 from public.messages x where x.booking_id = bookings.id)
        and not exists (select 1 from public.payments x where x.booking_id = bookings.id)
        and not exists (select 1 from public.reviews x where x.booking_id = bookings.id)`);
    case 'bids.INSERT':
      return { table, op, sql: `insert into public.bids (booking_id, technician_id, amount, message, status) values (${rnd('bookings')}, ${tech()}, ${numLit()}, ${maybe(textLit())}, ${q(pick(ENUMS.bid_status))}) on conflict do nothing returning id;` };
    case 'bids.UPDATE':
      return { table, op, sql: `update public.bids set ${pick([`status = ${q(pick(ENUMS.bid_status))}`, `amount = ${numLit()}`, `message = ${maybe(textLit())}`])}${touch} where id = ${rnd('bids')} returning id;` };
    case 'bids.DELETE': return del();
    case 'messages.INSERT':
      return { table, op, sql: `insert into public.messages (booking_id, sender_id, body) values (${rnd('bookings')}, ${q(pick(pools.users))}, ${textLit()}) returning id;` };
    case 'messages.UPDATE':
      return { table, op, sql: `update public.messages set body = ${textLit()} where id = ${rnd('messages')} returning id;` };
    case 'messages.DELETE': return del();
    case 'notifications.INSERT':
      return { table, op, sql: `insert into public.notifications (user_id, type, title, body, data, read_at) values (${q(pick(pools.users))}, ${textLit()}, ${textLit()}, ${maybe(textLit())}, ${pick(["'{}'", '\'{"k": 1}\''])}, ${maybe(tsLit(), 0.6)}) returning id;` };
    case 'notifications.UPDATE':
      return { table, op, sql: `update public.notifications set read_at = ${maybe(tsLit())} where id = ${rnd('notifications')} returning id;` };
    case 'notifications.DELETE': return del();
    case 'payments.INSERT':
      return { table, op, sql: `insert into public.payments (booking_id, customer_id, technician_id, amount, currency, status, provider_ref) select b.id, ${chance(0.8) ? 'b.customer_id' : customer()}, coalesce(b.technician_id, ${tech()}), ${numLit()}, ${q(pick(CURRENCIES))}, ${q(pick(ENUMS.payment_status))}, ${maybe(textLit())} from public.bookings b where b.id = ${rnd('bookings')} returning id;` };
    case 'payments.UPDATE':
      return { table, op, sql: `update public.payments set status = ${q(pick(ENUMS.payment_status))}${touch} where id = ${rnd('payments')} returning id;` };
    case 'payments.DELETE': return del();
    case 'reviews.INSERT':
      return { table, op, sql: `insert into public.reviews (booking_id, customer_id, technician_id, rating, comment, status) select b.id, ${chance(0.8) ? 'b.customer_id' : customer()}, coalesce(b.technician_id, ${tech()}), ${1 + int(5)}, ${maybe(textLit())}, ${q(pick(ENUMS.review_status))} from public.bookings b where b.id = ${rnd('bookings', 'not exists (select 1 from public.reviews r where r.booking_id = bookings.id)')} returning id;` };
    case 'reviews.UPDATE':
      return { table, op, sql: `update public.reviews set ${pick([`status = ${q(pick(ENUMS.review_status))}`, `rating = ${1 + int(5)}`, `comment = ${maybe(textLit())}`])}${touch} where id = ${rnd('reviews')} returning id;` };
    case 'reviews.DELETE': return del();
    case 'profiles.INSERT': {
      // A loose user: its auth row and its profile, nothing refers to it.
      const id = uuid();
      return { table, op, loose: id, sql: `insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data) values ('${id}', 'authenticated', 'authenticated', 'loose-${id}@loose.demo', '', now(), '{}', '{}');
insert into public.profiles (id, role, full_name, phone) values ('${id}', ${q(pick(['customer', 'technician']))}, ${textLit()}, ${maybe(textLit())}) returning id;` };
    }
    case 'profiles.UPDATE': {
      // Roles change only for users made here (never the demo accounts).
      const set = chance(0.25) ? `role = ${q(weighted([['customer', 5], ['technician', 5], ['admin', 1]]))}`
        : pick([`full_name = ${textLit()}`, `phone = ${maybe(textLit())}`, `avatar_url = ${maybe(textLit())}`]);
      const where = set.startsWith('role') ? `id <> all (array[${st.demoIds.map((x) => `${q(x)}::uuid`).join(', ')}])` : 'true';
      return { table, op, sql: `update public.profiles set ${set}${touch} where id = ${rnd('profiles', where)} returning id;` };
    }
    case 'profiles.DELETE':
      return del('public.tc_rnd_deletable_profile(id)');
    case 'technicians.INSERT':
      return { table, op, sql: `insert into public.technicians (id, services, hourly_rate, is_verified, verified_at, bio) select p.id, '{plumbing}', ${maybe(numLit())}, ${pick(['true', 'false'])}, ${maybe(tsLit())}, ${maybe(textLit())} from public.profiles p where p.id = ${rnd('profiles', 'public.tc_rnd_deletable_profile(id) and not exists (select 1 from public.technicians t where t.id = profiles.id)')} returning id;` };
    case 'technicians.UPDATE': {
      const set = pick([`is_verified = not is_verified, verified_at = ${maybe(tsLit())}`, `hourly_rate = ${maybe(numLit())}`,
        `rating = ${maybe(pick(['1', '2.5', '4.75', '5']))}`, `rating_count = ${int(5)}`, `bio = ${maybe(textLit())}`,
        `services = ${pick(["'{}'", "'{hvac}'", "'{plumbing,electrical}'"])}`]);
      // Never the sync technician: its profile must stay visible to every user.
      return { table, op, sql: `update public.technicians set ${set}${touch} where id = ${rnd('technicians', `id <> ${q(st.syncId)}`)} returning id;` };
    }
    case 'technicians.DELETE':
      return del('public.tc_rnd_deletable_technician(id)');
    default: throw new Error(`${table}.${op}`);
  }
}

// ---- positions (docs/PROTOCOL.md, "Postgres Changes: positions and resume") --

/** "0/16B3748:2" -> [commit LSN, index] as BigInts; null if not a position. */
function parsePos(s) {
  const m = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8}):(\d+)$/i.exec(String(s ?? ''));
  return m ? [(BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`), BigInt(m[3])] : null;
}
const cmpParsed = (x, y) => (x[0] !== y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] !== y[1] ? (x[1] < y[1] ? -1 : 1) : 0);

// ---- replayed changes: the knobs -------------------------------------------

const REPLAY_CHANNELS = 3; // per principal, on a second connection that goes down and comes back
const LATE_CHANNELS = 2; // per principal and late round: new channels joining with an old position
const DOWN_SHARE = 0.6; // the chance that a replay connection is down during a round
const ROUND = Math.max(4, Math.min(60, Math.round(CASES / 1500))); // changes per round
// Every replay channel except anon's has this binding: the writer's sync
// marker (an UPDATE of the sync technician's profile, which every signed-in
// user may read) ends each boundary, so a channel that has it has had every
// replayed change before it.
const SYNC = { table: 'profiles', event: 'UPDATE', filter: 'avatar_url=like.tc_sync%',
  conds: [{ col: 'avatar_url', text: 'avatar_url=like.tc_sync%', sql: "(avatar_url like 'tc_sync%')" }] };

// ---- the test -------------------------------------------------------------

describe('postgres changes: randomized agreement with PostgreSQL', { timeout: T(Math.max(600000, CASES * 10)) }, () => {
  let stack, session;
  const principals = []; // {name, role, claims, client, rclient, channels: [{topic, bindings}], raw: []}
  const bindings = []; // {principal, topic, idx, id, table, event, conds, filter, callbacks}

  before(async () => {
    // The history must hold the whole run (a slow sanitizer build included):
    // every resume here is within it and must be recovered.
    stack = await startStack({ serverEnv: { CDC_HISTORY_SECONDS: '7200' } });
    const db = stack.db;
    // Extra users, made as db/demo.sql makes them (cheaper bcrypt): the
    // sign-up trigger writes their profiles and technician rows. The sync
    // technician signs in nowhere: its profile is the writer's sync marker.
    const extra = [];
    for (let i = 1; i <= 10; i++) extra.push({ email: `cust${i}@random.demo`, role: 'customer' });
    for (let i = 1; i <= 6; i++) extra.push({ email: `tech${i}@random.demo`, role: 'technician', verified: i <= 4 });
    extra.push({ email: 'sync@random.demo', role: 'technician', verified: true, sync: true });
    await db.psql(`
      create temp table r_users (email text, role text, verified boolean);
      insert into r_users values ${extra.map((u) => `(${q(u.email)}, ${q(u.role)}, ${u.verified ? 'true' : 'false'})`).join(', ')};
      with ins as (
        insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data)
        select gen_random_uuid(), 'authenticated', 'authenticated', r.email,
               extensions.crypt('techcare-demo', extensions.gen_salt('bf', 4)), now(),
               '{"provider": "email", "providers": ["email"]}', jsonb_build_object('role', r.role, 'full_name', initcap(split_part(r.email, '@', 1)))
          from r_users r returning id, email)
      insert into auth.identities (provider_id, user_id, provider, identity_data)
      select id::text, id, 'email', jsonb_build_object('sub', id::text, 'email', email, 'email_verified', true) from ins;
      update public.technicians t set is_verified = true, verified_at = now()
        from auth.users u join r_users r on r.email = u.email where u.id = t.id and r.verified;
      -- The writer deletes profiles and technician rows only of its own
      -- loose users (profiles.INSERT), and only when nothing refers to them.
      create function public.tc_rnd_deletable_technician(p uuid) returns boolean language sql stable as $$
        select exists (select 1 from auth.users u where u.id = p and u.email like 'loose-%@loose.demo')
           and not exists (select 1 from public.bookings x where x.technician_id = p)
           and not exists (select 1 from public.bids x where x.technician_id = p)
           and not exists (select 1 from public.payments x where x.technician_id = p)
           and not exists (select 1 from public.reviews x where x.technician_id = p) $$;
      create function public.tc_rnd_deletable_profile(p uuid) returns boolean language sql stable as $$
        select public.tc_rnd_deletable_technician(p)
           and not exists (select 1 from public.technicians x where x.id = p)
           and not exists (select 1 from public.bookings x where x.customer_id = p)
           and not exists (select 1 from public.messages x where x.sender_id = p)
           and not exists (select 1 from public.notifications x where x.user_id = p)
           and not exists (select 1 from public.payments x where x.customer_id = p)
           and not exists (select 1 from public.reviews x where x.customer_id = p) $$;
    `);
    // The sign-ins (supabase-js, through the server).
    const emails = [...Object.values(DEMO).map((u) => u.email), ...extra.filter((u) => !u.sync).map((u) => u.email)];
    for (const email of emails) {
      const s = await stack.signIn(email);
      principals.push({ name: email, role: 'authenticated', claims: s.claims, client: s.client });
    }
    principals.push({ name: 'anon', role: 'anon', claims: { role: 'anon' }, client: stack.client(stack.anonKey) });
    for (const n of [1, 2]) {
      principals.push({ name: `service${n}`, role: 'service_role', claims: { role: 'service_role' }, client: stack.client(stack.serviceKey) });
    }
    // Each principal's second connection, for the channels that go away and
    // resume (a second sign-in: same user, same policies).
    for (const p of principals) {
      p.rclient = p.role === 'authenticated' ? (await stack.signIn(p.name)).client
        : stack.client(p.role === 'anon' ? stack.anonKey : stack.serviceKey);
    }
    session = db.session();
    // The test cluster runs with synchronous_commit off, where a commit
    // reaches the WAL sender only at the WAL writer's next flush (up to
    // 200 ms later); the writer waits for each change, so flush at commit.
    await session.run('set synchronous_commit = on;');
  });
  after(async () => {
    await session?.close();
    await stack?.stop();
  });

  test(`${CASES} random (binding, change) cases, live and replayed, agree with PostgreSQL (seed ${SEED})`, async () => {
    const db = stack.db;
    const refreshPools = async () => {
      const out = await session.run(TABLE_NAMES.filter((t) => t !== 'profiles' && t !== 'technicians')
        .map((t) => `select '${t}|' || coalesce(string_agg(id::text, ','), '') from public.${t};`).join('\n') +
        "\nselect 'users|' || string_agg(id::text, ',') from public.profiles;");
      for (const line of out.trim().split('\n')) {
        const [t, ids] = line.split('|');
        pools[t] = ids ? ids.split(',') : [];
      }
    };
    await refreshPools();
    const canSelect = {};
    for (const r of await db.rows(`select r.rolname || '.' || c.relname as k, has_table_privilege(r.oid, c.oid, 'SELECT') as ok
        from pg_roles r cross join pg_class c where r.rolname in ('anon', 'authenticated', 'service_role')
         and c.relnamespace = 'public'::regnamespace and c.relname in (${TABLE_NAMES.map(q).join(', ')})`)) canSelect[r.k] = r.ok;
    // Unique constraints besides the key: the replay oracle puts an old row
    // image back in place, which may collide with a row made since.
    const dropUnique = Object.fromEntries(TABLE_NAMES.map((t) => [t, '']));
    for (const r of await db.rows(`select c.relname as t, i.relname as index, con.conname as constraint
        from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class c on c.oid = x.indrelid
        left join pg_constraint con on con.conindid = x.indexrelid and con.conrelid = c.oid
       where x.indisunique and not x.indisprimary and c.relnamespace = 'public'::regnamespace
         and c.relname in (${TABLE_NAMES.map(q).join(', ')})`)) {
      dropUnique[r.t] += r.constraint ? `alter table public.${r.t} drop constraint "${r.constraint}";\n` : `drop index public."${r.index}";\n`;
    }
    const st = {
      customers: (await db.rows("select id from public.profiles where role = 'customer'")).map((r) => r.id),
      technicians: (await db.rows('select id from public.technicians')).map((r) => r.id),
      demoIds: Object.values(DEMO).map((u) => u.id),
      syncId: await db.value("select id from auth.users where email = 'sync@random.demo'"),
    };
    assert.match(String(st.syncId), /^[0-9a-f-]{36}$/);

    // Subscribers: each principal gets two channels of 2..5 random bindings.
    const subscribed = [];
    for (const [pi, p] of principals.entries()) {
      p.raw = [];
      p.client.realtime.socketAdapter.onMessage((m) => {
        if (m.event === 'postgres_changes') p.raw.push({ topic: m.topic, ids: m.payload?.ids ?? [], data: m.payload?.data });
      });
      p.channels = [];
      for (let ci = 0; ci < 2; ci++) {
        const name = `rnd-${pi}-${ci}`;
        const ch = p.client.channel(name);
        const bs = [];
        const nb = 2 + int(4);
        const seen = new Set();
        for (let bi = 0; bi < nb; bi++) {
          const b = { principal: pi, topic: `realtime:${name}`, idx: bi, callbacks: 0, ...randomBinding(pick(TABLE_NAMES)) };
          // realtime-js ignores a second identical binding on a channel.
          const same = `${b.table}|${b.event}|${b.filter}`;
          if (seen.has(same)) continue;
          seen.add(same);
          b.cb = (p) => { if (!String(p.new?.type ?? '').startsWith('tc_random_')) b.callbacks++; };
          ch.on('postgres_changes', { event: b.event, schema: 'public', table: b.table, ...(b.filter ? { filter: b.filter } : {}) }, b.cb);
          bs.push(b);
        }
        const sys = [];
        ch.on('system', {}, (m) => sys.push(m));
        const statuses = [];
        ch.subscribe((status, err) => statuses.push(`${status}${err ? `: ${err.message}` : ''}`));
        p.channels.push({ ch, bs, sys, statuses });
        subscribed.push({ p, ch, bs, sys, statuses });
      }
    }
    // The sentinel: every table, every event, no filter, service_role. Its
    // events' refs are the changes' positions.
    const sentinel = { raw: [], pos: [], client: stack.client(stack.serviceKey) };
    sentinel.client.realtime.socketAdapter.onMessage((m) => {
      if (m.event === 'postgres_changes') { sentinel.raw.push(m.payload.data); sentinel.pos.push(m.ref); }
    });
    const sch = sentinel.client.channel('rnd-sentinel');
    for (const t of TABLE_NAMES) sch.on('postgres_changes', { event: '*', schema: 'public', table: t }, () => {});
    const ssys = [];
    sch.on('system', {}, (m) => ssys.push(m));
    sch.subscribe();
    subscribed.push({ ch: sch, sys: ssys, statuses: [] });

    for (const s of subscribed) {
      await waitFor(() => s.sys.some((m) => m.extension === 'postgres_changes' && m.status === 'ok') ||
        s.statuses.some((x) => /ERROR|TIMED_OUT|CLOSED/.test(x)), { timeout: T(20000), message: `${s.ch.topic} to join` });
      assert.ok(s.sys.some((m) => m.extension === 'postgres_changes' && m.status === 'ok'),
        `${s.ch.topic} joined with bindings ${JSON.stringify(s.bs?.map((b) => [b.table, b.event, b.filter]))}: ${s.statuses.join(' | ')}`);
    }
    for (const p of principals) {
      for (const c of p.channels) {
        for (const b of c.bs) {
          b.id = c.ch.bindings.postgres_changes.find((x) => x.callback === b.cb)?.id;
          assert.ok(b.id, `binding id for ${c.ch.topic}#${b.idx}: ${JSON.stringify(c.ch.bindings.postgres_changes)}`);
          bindings.push(b);
        }
      }
    }
    const byTable = Object.fromEntries(TABLE_NAMES.map((t) => [t, bindings.filter((b) => b.table === t)]));
    const principalsOn = Object.fromEntries(TABLE_NAMES.map((t) => [t, [...new Set(byTable[t].map((b) => b.principal))]]));

    // Everything before this marker (setup's changes, if they were decoded
    // late) is not part of the test.
    await session.run(`insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'tc_random_start', 'start');`);
    await waitFor(() => sentinel.raw.some((d) => d.table === 'notifications' && d.record?.type === 'tc_random_start'),
      { timeout: T(10000), message: 'the start marker at the sentinel' });
    const key = (d) => `${d.table}|${d.type}|${d.commit_timestamp}|${JSON.stringify(d.record ?? null)}|${JSON.stringify(d.old_record ?? null)}`;
    const preKeys = new Set(sentinel.raw.map(key));
    let sentinelSeen = sentinel.raw.length;
    const startPos = sentinel.pos[sentinel.raw.findIndex((d) => d.table === 'notifications' && d.record?.type === 'tc_random_start')];
    assert.ok(parsePos(startPos), `a postgres_changes event carries its position as the message ref (got ${JSON.stringify(startPos)})`);

    // ---- the replay subscribers ----
    // Per principal a second connection with REPLAY_CHANNELS channels of
    // random bindings (and SYNC), each joined with a resume position; each
    // binding's callback stores the position it is handed (realtime-js's
    // second argument) as the channel's next resume point, as an app would.
    // Per binding: expect (position -> the last verdict on that change:
    // {kind: live | replay, want, fil, rls}), raw and cbs (position ->
    // deliveries, from the frames and from the callbacks).
    const rclients = [];
    const rchannels = [];
    const rbindings = [];
    const rbyTable = Object.fromEntries(TABLE_NAMES.map((t) => [t, []]));
    const problems = []; // what went wrong during the run (resume points, joins, sync)
    let rchNo = 0;
    const addReplayChannel = (rcl, after, late) => {
      const name = `rpl-${rcl.pi}-${rchNo++}`;
      const ch = rcl.client.channel(name);
      // Half the channels resume from the last change of their own bindings,
      // not from the sync markers: they resume from further back, and get
      // again what is after that (then, some changes refused before are
      // owed now, and some delivered before come again).
      const rc = { rcl, pi: rcl.pi, name, topic: `realtime:${name}`, ch, bs: [], sys: [], statuses: [], P: after, late, unknownIds: [],
        trackSync: chance(0.5) };
      const seen = new Set();
      const specs = Array.from({ length: 2 + int(4) }, () => randomBinding(pick(TABLE_NAMES)));
      if (principals[rcl.pi].role !== 'anon') specs.push(SYNC);
      for (const spec of specs) {
        const same = `${spec.table}|${spec.event}|${spec.filter}`;
        if (seen.has(same)) continue;
        seen.add(same);
        const b = { principal: rcl.pi, rc, topic: rc.topic, idx: rc.bs.length, ...spec, sync: spec === SYNC,
          expect: new Map(), raw: new Map(), cbs: new Map() };
        b.cb = (_payload, position) => {
          const k = String(position);
          b.cbs.set(k, (b.cbs.get(k) ?? 0) + 1);
          if (!b.sync || rc.trackSync) ch.updateJoinPayload({ postgres_changes_resume: { after: position } });
        };
        ch.on('postgres_changes', { event: b.event, schema: 'public', table: b.table, ...(b.filter ? { filter: b.filter } : {}) }, b.cb);
        rc.bs.push(b);
        rbindings.push(b);
        rbyTable[b.table].push(b);
      }
      ch.on('system', {}, (m) => rc.sys.push(m));
      ch.updateJoinPayload({ postgres_changes_resume: { after } });
      ch.subscribe((status, err) => rc.statuses.push(`${status}${err ? `: ${err.message}` : ''}`));
      rcl.byTopic.set(rc.topic, rc);
      rcl.channels.push(rc);
      rchannels.push(rc);
      return rc;
    };
    // (Not the 'Position' message a quiet channel gets: these channels keep
    // the position of the last change they were sent, an older one.)
    const isPgSys = (m) => m.extension === 'postgres_changes' && m.message !== 'Position';
    /** Waits for the "Subscribed to PostgreSQL" of a (re)join that asked to resume after `after`. */
    const awaitResumed = async ({ rc, after, before, beforeStatus = 0 }) => {
      await waitFor(() => rc.sys.slice(before).some(isPgSys) || rc.statuses.slice(beforeStatus).some((x) => /ERROR|TIMED_OUT|CLOSED/.test(x)),
        { timeout: T(20000), message: `${rc.name} to (re)join resuming after ${after}` });
      const m = rc.sys.slice(before).find(isPgSys);
      assert.ok(m && m.status === 'ok', `${rc.name} resumed: ${JSON.stringify(m)} ${rc.statuses.join(' | ')}`);
      if (m.recovered !== true || m.position !== after) {
        problems.push(`${rc.name} asked to resume after ${after}: ${JSON.stringify(m)}`);
      }
    };
    for (const [pi, p] of principals.entries()) {
      const rcl = { pi, client: p.rclient, up: true, channels: [], byTopic: new Map(), stray: [] };
      p.rclient.realtime.socketAdapter.onMessage((m) => {
        if (m.event !== 'postgres_changes') return;
        const rc = rcl.byTopic.get(m.topic);
        if (!rc) { rcl.stray.push({ topic: m.topic, ref: m.ref }); return; }
        // Binding ids are the server's answer to the latest join.
        const current = rc.ch.bindings.postgres_changes ?? [];
        const k = String(m.ref);
        for (const id of m.payload?.ids ?? []) {
          const cb = current.find((x) => x.id === id)?.callback;
          const b = cb && rc.bs.find((x) => x.cb === cb);
          if (!b) { rc.unknownIds.push({ id, ref: k }); continue; }
          b.raw.set(k, (b.raw.get(k) ?? 0) + 1);
        }
      });
      rclients.push(rcl);
      for (let k = 0; k < REPLAY_CHANNELS; k++) addReplayChannel(rcl, startPos, false);
    }
    for (const rc of rchannels) await awaitResumed({ rc, after: startPos, before: 0 });

    // The writer and the oracle.
    const changes = []; // {seq, table, op, id, key, expected: Set('topic#id'), detail}
    const pchanges = []; // the published ones, in commit order: {..., pos, pv (parsed), image, keyOnlyDelete, rfil}
    let cases = 0;
    let skipped = 0;
    let seq = 0;
    const stats = { filterTrue: 0, rlsTrue: 0, expected: 0 };
    const rs = { live: 0, replay: 0, liveWant: 0, replayWant: 0, rounds: 0, late: 0, rejoins: 0, sqlMs: 0, boundaryMs: 0,
      rlsNowTrue: 0, rlsNowFalse: 0, owedNow: 0, again: 0, replayRlsRefused: 0, seam: 0 };
    const timing = { sentinel: 0, start: Date.now() };
    const total = () => cases + rs.live + rs.replay;

    /** Filter results: bindings of the table -> boolean, on the row as it is now (superuser). */
    const filterSql = (table, id, bs, tag = 'F|') => {
      const exprs = bs.map((b, i) => `coalesce(${b.conds.length ? b.conds.map((c) => c.sql).join(' and ') : 'true'}, false) as f${i}`);
      // (an array: a function takes at most 100 arguments)
      return `select '${tag}' || array_to_string(array[${bs.map((_, i) => `f${i}`).join(', ')}], ',') from (select ${exprs.join(', ')} from public.${table} where id = '${id}') x;`;
    };
    /** RLS results per principal: EXISTS(row) run as that principal. */
    const rlsSql = (table, id, pis, tag = 'R|') => pis.map((pi) => {
      const p = principals[pi];
      // No SELECT privilege: nothing is visible (and the query would fail).
      if (!canSelect[`${p.role}.${table}`]) return `select '${tag}${pi}|f';`;
      return `set local role ${p.role};\nset local request.jwt.claims to ${q(JSON.stringify(p.claims))};\n` +
        `select '${tag}${pi}|' || exists (select 1 from public.${table} where id = '${id}');\nreset role;`;
    }).join('\n');
    const parseOracle = (out, bs) => {
      const f = new Map();
      const r = new Map();
      let image = null;
      for (const line of out.split('\n')) {
        if (line.startsWith('F|')) line.slice(2).split(',').forEach((v, i) => f.set(bs[i], v === 't' || v === 'true'));
        else if (line.startsWith('R|')) { const [, pi, v] = line.split('|'); r.set(Number(pi), v === 't' || v === 'true'); }
        else if (line.startsWith('I|')) image = line.slice(2);
      }
      return { f, r, image };
    };
    // On a DELETE of a table with replica identity DEFAULT only the key
    // comes: a condition on another column is unknown and fails.
    const keyOnlyFails = (table, op, b) => op === 'DELETE' && TABLES[table].keyOnly && b.conds.some((c) => c.col !== 'id');

    const published = (table, op) => TABLES[table].events.includes(op);
    /**
     * Records a verdict on change pos for replay binding b. Every verdict
     * "deliver" owes one delivery: a change judged again at a later resume
     * (the channel resumed from before it) is owed again if readable then.
     * Returns whether the channel's resume point moves there.
     */
    const judge = (b, pos, j) => {
      const e = b.expect.get(pos) ?? { n: 0, replayed: 0, rlsNo: false, otherNo: false };
      if (j.want) { e.n++; if (j.kind === 'replay') e.replayed++; } else if (j.ev && j.fil && j.rls === false) e.rlsNo = true;
      else e.otherNo = true;
      b.expect.set(pos, Object.assign(e, j));
      return j.want && (!b.sync || b.rc.trackSync);
    };
    /**
     * Writes one change and judges it: for the live channels (as before),
     * and for the replay channels that are up (live verdicts); records its
     * position, row image and filter results for later replays. Returns the
     * change, or null when the random write changed nothing.
     */
    const writeOne = async (ch) => {
      const bs = byTable[ch.table];
      const rbs = rbyTable[ch.table];
      const allBs = [...bs, ...rbs];
      const pis = [...new Set([...principalsOn[ch.table], ...rbs.filter((b) => b.rc.rcl.up).map((b) => b.principal)])];
      let id;
      let oracle;
      const imageSql = (table, id) => `select 'I|' || to_jsonb(t)::text from public.${table} t where id = '${id}';`;
      if (ch.op === 'DELETE') {
        const picked = (await session.run(ch.pickSql)).trim();
        if (!picked) { skipped++; return null; }
        id = picked;
        // The old image as the server gets it: the whole row (replica
        // identity FULL) or only the key (DEFAULT: every other column NULL).
        const nonKey = Object.keys(TABLES[ch.table].cols).filter((c) => c !== 'id');
        const nulling = TABLES[ch.table].keyOnly
          ? `alter table public.${ch.table} ${nonKey.map((c) => `alter column ${c} drop not null`).join(', ')};\n` +
            `update public.${ch.table} set ${nonKey.map((c) => `${c} = null`).join(', ')} where id = '${id}';\n`
          : '';
        const out = await session.run(`${allBs.length ? filterSql(ch.table, id, allBs) : ''}
${TABLES[ch.table].keyOnly ? '' : imageSql(ch.table, id)}
begin;
set local session_replication_role = replica;
${nulling}${rlsSql(ch.table, id, pis)}
rollback;`);
        oracle = parseOracle(out, allBs);
        if (TABLES[ch.table].keyOnly) oracle.image = JSON.stringify({ id });
        for (const b of allBs) if (keyOnlyFails(ch.table, ch.op, b)) oracle.f.set(b, false);
        const del = await session.run(`begin; set local session_replication_role = replica;
delete from public.${ch.table} where id = '${id}' returning id;
commit;`);
        if (del.trim() !== id) throw new Error(`delete of ${ch.table} ${id} did not happen: ${del}`);
      } else {
        let out;
        try {
          out = await session.run(`begin; set local session_replication_role = replica;\n${ch.sql}\ncommit;`);
        } catch (e) {
          if (/duplicate key|violates/.test(e.message)) { skipped++; return null; } // e.g. a second live bid
          throw e;
        }
        const ids = out.trim().split('\n').filter((l) => /^[0-9a-f-]{36}$/.test(l));
        if (ids.length !== 1) { skipped++; return null; } // nothing to update / no candidate row
        id = ids[0];
        const o = await session.run(`${allBs.length ? filterSql(ch.table, id, allBs) : ''}
${imageSql(ch.table, id)}
begin;
${rlsSql(ch.table, id, pis)}
rollback;`);
        oracle = parseOracle(o, allBs);
      }
      seq++;
      if (ch.op === 'INSERT' && ch.table === 'profiles') st.customers.push(id);
      if (ch.op === 'INSERT' && ch.table === 'technicians') st.technicians.push(id);
      if (ch.op === 'DELETE' && ch.table === 'technicians') st.technicians = st.technicians.filter((x) => x !== id);

      let k = null;
      let pos = null;
      const pub = published(ch.table, ch.op);
      if (pub) {
        // Wait until the server has handled this change (so the next write
        // cannot change what its checks read).
        const t0 = Date.now();
        await waitFor(() => sentinel.raw.length > sentinelSeen, {
          timeout: T(10000), message: `the sentinel to get change #${seq} (${ch.op} ${ch.table} ${id})`,
        });
        timing.sentinel += Date.now() - t0;
        pos = sentinel.pos[sentinelSeen];
        const d = sentinel.raw[sentinelSeen++];
        const did = (d.type === 'DELETE' ? d.old_record : d.record)?.id;
        assert.deepEqual([d.table, d.type, did], [ch.table, ch.op, id], `the sentinel's change #${seq} is the one written`);
        k = key(d);
      }
      const expected = new Set();
      for (const b of bs) {
        cases++;
        const ev = b.event === '*' || b.event === ch.op;
        const fil = oracle.f.get(b);
        const rls = oracle.r.get(b.principal);
        if (fil) stats.filterTrue++;
        if (rls) stats.rlsTrue++;
        if (ev && fil && rls && pub) expected.add(`${b.topic}#${b.id}`);
        b.expectedCount = (b.expectedCount ?? 0) + (ev && fil && rls && pub ? 1 : 0);
      }
      stats.expected += expected.size;
      const c = { seq, table: ch.table, op: ch.op, id, key: k, expected, oracle, pos };
      changes.push(c);
      // The replay channels that are up judge it live; the others will when
      // they come back.
      const pv = pub ? parsePos(pos) : null;
      if (pub) {
        assert.ok(pv, `change #${seq} has a position (ref ${JSON.stringify(pos)})`);
        if (pchanges.length) assert.equal(cmpParsed(pchanges[pchanges.length - 1].pv, pv), -1, `positions grow: ${pchanges[pchanges.length - 1].pos} then ${pos}`);
        Object.assign(c, { pv, image: oracle.image, rfil: new Map(rbs.map((b) => [b, oracle.f.get(b)])), t: Date.now() });
        pchanges.push(c);
      }
      const hit = new Set();
      for (const b of rbs) {
        if (!b.rc.rcl.up) continue;
        rs.live++;
        const ev = b.event === '*' || b.event === ch.op;
        const fil = oracle.f.get(b);
        const rls = oracle.r.get(b.principal);
        const want = !!(ev && fil && rls && pub);
        if (want) rs.liveWant++;
        if (pub && judge(b, pos, { kind: 'live', want, ev, fil, rls, seq })) hit.add(b.rc);
      }
      for (const rc of hit) rc.P = pos;
      return c;
    };

    /**
     * The replay oracle, for channels that just resumed: every published
     * change after each one's resume point, judged now (the writer is
     * paused): its filter results as recorded (or, for a binding made since,
     * on the row image), and EXISTS as the principal with the change's row
     * image put back in place of whatever has that id now, in a transaction
     * that is rolled back.
     */
    const judgeReplays = async (joins) => {
      const t0 = Date.now();
      const ranges = new Map();
      const needs = new Map(); // change -> {fb: Set(binding), pis: Set(principal)}
      for (const { rc, after, end } of joins) {
        const from = parsePos(after);
        const range = [];
        for (let i = end - 1; i >= 0 && cmpParsed(pchanges[i].pv, from) > 0; i--) range.push(pchanges[i]);
        range.reverse();
        ranges.set(rc, range);
        for (const c of range) {
          for (const b of rc.bs) {
            if (b.table !== c.table || !(b.event === '*' || b.event === c.op)) continue;
            const fil = keyOnlyFails(c.table, c.op, b) ? false : c.rfil.get(b);
            if (fil === false) continue;
            if (!needs.has(c)) needs.set(c, { fb: new Set(), pis: new Set() });
            if (fil === undefined) needs.get(c).fb.add(b);
            needs.get(c).pis.add(b.principal);
          }
        }
      }
      const script = [];
      const order = [...needs.entries()].sort((x, y) => x[0].seq - y[0].seq);
      for (const [c, n] of order) {
        const nonKey = Object.keys(TABLES[c.table].cols).filter((x) => x !== 'id');
        const keyOnly = c.op === 'DELETE' && TABLES[c.table].keyOnly;
        const fb = [...n.fb];
        n.fbList = fb;
        script.push(`begin;
set local session_replication_role = replica;
${dropUnique[c.table]}${keyOnly ? `alter table public.${c.table} ${nonKey.map((x) => `alter column ${x} drop not null`).join(', ')};\n` : ''}delete from public.${c.table} where id = '${c.id}';
insert into public.${c.table} select * from jsonb_populate_record(null::public.${c.table}, ${q(c.image)}::jsonb);
${fb.length ? filterSql(c.table, c.id, fb, `G|${c.seq}|`) : ''}
${rlsSql(c.table, c.id, [...n.pis], `S|${c.seq}|`)}
rollback;`);
      }
      const gfil = new Map();
      const srls = new Map();
      if (script.length) {
        const out = await session.run(script.join('\n'));
        const bySeq = new Map(order.map(([c, n]) => [c.seq, n]));
        for (const line of out.split('\n')) {
          const [tag, s, a, v] = line.split('|');
          if (tag === 'G' && bySeq.has(Number(s))) a.split(',').forEach((x, i) => gfil.set(`${s}|${i}`, x === 't' || x === 'true'));
          else if (tag === 'S') srls.set(`${s}|${a}`, v === 't' || v === 'true');
        }
      }
      const owed = [];
      for (const { rc, after } of joins) {
        let last = null;
        for (const c of ranges.get(rc)) {
          let any = false;
          for (const b of rc.bs) {
            if (b.table !== c.table) continue;
            rs.replay++;
            const prev = b.expect.get(c.pos);
            const ev = b.event === '*' || b.event === c.op;
            let fil = keyOnlyFails(c.table, c.op, b) ? false : c.rfil.get(b);
            if (fil === undefined && ev) {
              const i = needs.get(c)?.fbList.indexOf(b);
              fil = gfil.get(`${c.seq}|${i}`);
              if (fil === undefined) throw new Error(`no filter result for ${rc.name}#${b.idx} on change #${c.seq}`);
              c.rfil.set(b, fil);
            }
            const rls = ev && fil ? srls.get(`${c.seq}|${b.principal}`) : undefined;
            if (ev && fil && rls === undefined) throw new Error(`no RLS result for principal ${b.principal} on change #${c.seq}`);
            const want = !!(ev && fil && rls);
            // How often "now" matters: the row-level security verdict
            // differs from the one at commit, or a change refused before is
            // owed now.
            const then = c.oracle.r.get(b.principal);
            if (ev && fil && then !== undefined && then !== rls) rs[rls ? 'rlsNowTrue' : 'rlsNowFalse']++;
            if (prev && !prev.want && want) rs.owedNow++;
            if (prev?.want && want) rs.again++;
            if (ev && fil && !rls) rs.replayRlsRefused++;
            if (judge(b, c.pos, { kind: 'replay', want, ev, fil, rls, seq: c.seq })) any = true;
            if (want) { rs.replayWant++; owed.push([b, c.pos, b.expect.get(c.pos).n]); }
          }
          if (any) last = c.pos;
        }
        // (Unless a seam change, later than all of these, moved it already.)
        if (last && rc.P === after) rc.P = last;
      }
      rs.sqlMs += Date.now() - t0;
      return owed;
    };

    let syncNo = 0;
    const syncChange = () => ({ table: 'profiles', op: 'UPDATE', sync: true,
      sql: `update public.profiles set avatar_url = 'tc_sync_${++syncNo}', updated_at = clock_timestamp() where id = ${q(st.syncId)} returning id;` });
    let seamNo = 0;
    const seamChange = () => (chance(0.7)
      ? { table: 'notifications', op: 'INSERT', sql: `insert into public.notifications (user_id, type, title, body) values (${q(pick(pools.users))}, ${textLit()}, 'seam ${++seamNo}', ${maybe(textLit())}) returning id;` }
      : { table: 'profiles', op: 'UPDATE', sql: `update public.profiles set avatar_url = ${maybe(textLit())}, updated_at = clock_timestamp() where id = ${q(st.syncId)} returning id;` });
    let lateDone = 0;
    /**
     * Between rounds, the writer paused: the connections that were down come
     * back (realtime-js rejoins their channels with the last position each
     * got), new channels join with an old position (twice per run), the
     * oracle judges what they must now be sent, a sync marker ends the
     * replays, and a random share of the replay connections goes down for
     * the next round.
     */
    const boundary = async (final) => {
      const t0 = Date.now();
      rs.rounds++;
      const joins = [];
      const end = pchanges.length; // a rejoin replays up to here; the seam changes below are judged at commit
      for (const rcl of rclients) {
        if (rcl.up) continue;
        for (const rc of rcl.channels) {
          const sent = rc.ch.joinPush.payload().postgres_changes_resume?.after;
          if (sent !== rc.P) problems.push(`${rc.name} resumes after ${sent}, but the last change it was sent is ${rc.P}`);
          joins.push({ rc, after: rc.P, end, before: rc.sys.length, beforeStatus: rc.statuses.length });
        }
        rcl.client.realtime.connect();
        rcl.up = true;
      }
      rs.rejoins += joins.length;
      // The seam: while the channels resume and catch up, the writer commits
      // changes whose verdicts cannot depend on when they are judged (no
      // policy reads notifications or a profile's avatar_url): each goes to
      // a resuming channel by replay or live, depending on the moment, and
      // must arrive exactly once either way.
      let caughtUp = false;
      const seam = (async () => {
        for (let n = 0; !caughtUp && n < 60; n++) if (await writeOne(seamChange())) rs.seam++;
      })();
      try {
        for (const j of joins) await awaitResumed(j);
        const owed = await judgeReplays(joins);
        try {
          await waitFor(() => owed.every(([b, pos, n]) => (b.raw.get(pos) ?? 0) >= n), { timeout: T(20000), message: 'the replays' });
        } catch {
          const miss = owed.filter(([b, pos, n]) => (b.raw.get(pos) ?? 0) < n);
          problems.push(`round ${rs.rounds}: ${miss.length} of ${owed.length} replayed deliveries never came, e.g. ` +
            `${miss.slice(0, 3).map(([b, pos]) => `${b.rc.name}#${b.idx} ${pos}`).join(', ')}`);
          return false;
        }
      } finally {
        caughtUp = true;
        await seam;
      }
      const late = (final || (!lateDone && total() >= CASES / 2)) && pchanges.length > 0;
      if (late) {
        lateDone++;
        const lateJoins = [];
        for (const rcl of rclients) {
          for (let k = 0; k < LATE_CHANNELS; k++) {
            const from = chance(0.2) ? startPos : pick(pchanges).pos;
            lateJoins.push({ rc: addReplayChannel(rcl, from, true), after: from, end: pchanges.length, before: 0 });
            rs.late++;
          }
        }
        for (const j of lateJoins) await awaitResumed(j);
        await judgeReplays(lateJoins);
      }
      const c = await writeOne(syncChange());
      assert.ok(c?.pos, 'the sync marker was written and published');
      const owed = rchannels.filter((rc) => rc.bs.some((b) => b.expect.get(c.pos)?.want));
      for (const rc of rchannels) {
        if (principals[rc.pi].role !== 'anon' && !owed.includes(rc)) problems.push(`oracle: ${rc.name} may not read sync marker ${c.pos}`);
      }
      try {
        await waitFor(() => owed.every((rc) => rc.bs.some((b) => b.raw.has(c.pos))), { timeout: T(20000), message: 'the sync marker' });
      } catch {
        const late = owed.filter((rc) => !rc.bs.some((b) => b.raw.has(c.pos))).map((rc) => rc.name);
        problems.push(`sync marker ${c.pos} (round ${rs.rounds}) never reached ${late.length} replay channels: ${late.slice(0, 5).join(', ')}`);
        return false;
      }
      if (!final) {
        const down = rclients.filter(() => chance(DOWN_SHARE));
        for (const rcl of down) rcl.up = false;
        await Promise.all(down.map((rcl) => rcl.client.realtime.disconnect()));
        await waitFor(() => down.every((rcl) => !rcl.client.realtime.isConnected() && rcl.channels.every((rc) => rc.ch.state === 'errored')),
          { timeout: T(10000), message: 'the replay connections to go down' });
      }
      rs.boundaryMs += Date.now() - t0;
      return true;
    };

    let lastRefresh = 0;
    let lastBoundary = 0;
    let ok = true;
    while (ok && total() < CASES) {
      if (seq - lastRefresh >= 25) { await refreshPools(); lastRefresh = seq; }
      if (seq - lastBoundary >= ROUND) {
        ok = await boundary(false);
        lastBoundary = seq;
        continue;
      }
      await writeOne(randomChange(st));
    }
    if (ok) await boundary(true);

    // Every expected delivery has had time to arrive once the sentinel has
    // a last marker and every binding has its expected count.
    await session.run(`insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'tc_random_end', 'end');`);
    await waitFor(() => sentinel.raw.some((d) => d.table === 'notifications' && d.record?.type === 'tc_random_end'),
      { timeout: T(10000), message: 'the end marker at the sentinel' });
    const endPos = sentinel.pos[sentinel.raw.findIndex((d) => d.table === 'notifications' && d.record?.type === 'tc_random_end')];
    const receivedCount = (b) => principals[b.principal].raw.filter((m) => m.topic === b.topic && m.ids.includes(b.id) &&
      m.data?.record?.type !== 'tc_random_end' && !preKeys.has(key(m.data))).length;
    // (A binding on a table no change touched has no expectedCount.)
    await waitFor(() => bindings.every((b) => receivedCount(b) >= (b.expectedCount ?? 0)), { timeout: T(15000), message: 'expected deliveries' })
      .catch(() => {}); // reported below as mismatches

    // Compare.
    const received = new Map(); // key -> Set('topic#id') (with duplicates counted)
    const unknown = [];
    const dupes = [];
    const changeKeys = new Set(changes.map((c) => c.key).filter(Boolean));
    for (const p of principals) {
      for (const m of p.raw) {
        const kk = key(m.data);
        if (preKeys.has(kk) || m.data?.record?.type === 'tc_random_end') continue;
        if (!changeKeys.has(kk)) { unknown.push({ principal: p.name, topic: m.topic, ids: m.ids, change: kk.slice(0, 200) }); continue; }
        if (!received.has(kk)) received.set(kk, new Map());
        const per = received.get(kk);
        for (const bid of m.ids) {
          const x = `${m.topic}#${bid}`;
          per.set(x, (per.get(x) ?? 0) + 1);
          if (per.get(x) === 2) dupes.push({ change: kk.slice(0, 200), binding: x });
        }
      }
    }
    const mismatches = [];
    let agreements = 0;
    for (const c of changes) {
      const got = c.key ? received.get(c.key) ?? new Map() : new Map();
      for (const b of byTable[c.table]) {
        const x = `${b.topic}#${b.id}`;
        const want = c.expected.has(x);
        const have = got.has(x);
        if (want === have) { agreements++; continue; }
        mismatches.push({
          change: `#${c.seq} ${c.op} ${c.table} ${c.id}`,
          subscriber: principals[b.principal].name,
          binding: `${x} event=${b.event} filter=${b.filter || '(none)'}`,
          expected: want, received: have,
          oracle: { filter: c.oracle.f.get(b), rls: c.oracle.r.get(b.principal), published: published(c.table, c.op) },
        });
      }
    }
    const callbackMismatches = bindings.filter((b) => b.callbacks !== (b.expectedCount ?? 0))
      .map((b) => `${principals[b.principal].name} ${b.topic}#${b.id} ${b.table} ${b.event} ${b.filter}: callbacks ${b.callbacks}, expected ${b.expectedCount ?? 0}`);

    // The replay channels: per binding, every judged change delivered once
    // iff its last verdict says so; nothing else (the end marker aside).
    const seqOf = new Map(pchanges.map((c) => [c.pos, c]));
    const r = { refusedByRls: [], refusedOther: [], missing: [], dupes: [], unknown: [], callbacks: [], agree: 0, deliveredReplayed: 0, deliveredLive: 0 };
    for (const b of rbindings) {
      const who = `${principals[b.principal].name} ${b.rc.name}#${b.idx} ${b.table} ${b.event} ${b.filter || '(none)'}`;
      for (const [pos, e] of b.expect) {
        const got = b.raw.get(pos) ?? 0;
        const c = seqOf.get(pos);
        const what = `${who}: change #${e.seq} ${c.op} ${c.table} ${c.id} at ${pos} (owed ${e.n} times; last verdict ${e.kind}: ` +
          `filter ${e.fil}, rls ${e.rls}): received ${got} times`;
        if (got === e.n) r.agree++;
        else if (got < e.n) r.missing.push(what);
        else if (e.rlsNo) r.refusedByRls.push(what);
        else if (e.otherNo) r.refusedOther.push(what);
        else r.dupes.push(what);
        r.deliveredLive += Math.min(got, e.n - e.replayed);
        r.deliveredReplayed += Math.max(0, Math.min(got, e.n) - (e.n - e.replayed));
        if ((b.cbs.get(pos) ?? 0) !== got) r.callbacks.push(`${what}: ${got} frames, ${b.cbs.get(pos) ?? 0} callbacks`);
      }
      for (const [pos, n] of b.raw) if (!b.expect.has(pos) && pos !== endPos) r.unknown.push(`${who}: ${n} × ${pos} (${seqOf.get(pos) ? `change #${seqOf.get(pos).seq}, never judged for it` : 'not a change of the writer'})`);
      for (const [pos, n] of b.cbs) if (!b.expect.has(pos) && pos !== endPos && !b.raw.has(pos)) r.callbacks.push(`${who}: ${n} callbacks for ${pos}, no frame`);
    }
    for (const rc of rchannels) for (const u of rc.unknownIds) r.unknown.push(`${rc.name}: binding id ${u.id} at ${u.ref} is none of the channel's`);
    for (const rcl of rclients) for (const s of rcl.stray) r.unknown.push(`${principals[rcl.pi].name}: event for unknown topic ${s.topic} at ${s.ref}`);

    const byOp = {};
    for (const c of changes) byOp[`${c.table}.${c.op}`] = (byOp[`${c.table}.${c.op}`] ?? 0) + 1;
    console.log(`# random postgres changes: seed ${SEED}, ${principals.length} subscribers, ${bindings.length} bindings, ` +
      `${changes.length} changes (${skipped} random writes changed nothing), ${cases} cases, ${agreements} agreements, ` +
      `${mismatches.length} mismatches, ${stats.expected} expected deliveries (filter true ${stats.filterTrue}, ` +
      `RLS true ${stats.rlsTrue}), ${dupes.length} duplicates, ${unknown.length} unknown deliveries, ` +
      `${callbackMismatches.length} bindings whose supabase-js callback count differs`);
    console.log(`# replay channels: ${rchannels.length} (${rs.late} joined late with an old position) on ${rclients.length} connections, ` +
      `${rbindings.length} bindings, ${rs.rounds} rounds of ${ROUND} changes, ${rs.rejoins} resumed rejoins, ${rs.seam} changes at the seams; ` +
      `${rs.live} live cases (${rs.liveWant} to deliver, ${r.deliveredLive} delivered), ` +
      `${rs.replay} replayed cases (${rs.replayWant} to deliver, ${r.deliveredReplayed} delivered; ${rs.replayRlsRefused} matched ` +
      `but refused by RLS now; the principal's RLS verdict changed since the commit: to readable in ${rs.rlsNowTrue}, ` +
      `to refused in ${rs.rlsNowFalse}; refused to the channel before and owed now ${rs.owedNow}, owed again ${rs.again}); ` +
      `${r.refusedByRls.length} delivered though RLS refuses, ${r.refusedOther.length} delivered though filter/event refuse, ` +
      `${r.missing.length} missing, ${r.dupes.length} duplicated, ${r.unknown.length} unknown, ${r.callbacks.length} callback mismatches, ` +
      `${problems.length} run problems`);
    console.log(`# cases: ${cases + rs.live} live + ${rs.replay} replayed = ${total()} (TC_RANDOM_CASES ${CASES})`);
    console.log(`# changes by kind: ${JSON.stringify(byOp)}; ${Date.now() - timing.start} ms, ${timing.sentinel} ms waiting for the server, ` +
      `${rs.boundaryMs} ms in ${rs.rounds} round boundaries (${rs.sqlMs} ms of it in the replay oracle)`);
    assert.ok(stats.expected > cases / 50, `the random cases deliver something often enough (${stats.expected} of ${cases})`);
    assert.deepEqual({ mismatches: mismatches.length, dupes: dupes.length, unknown: unknown.length, callbacks: callbackMismatches.length },
      { mismatches: 0, dupes: 0, unknown: 0, callbacks: 0 },
      `first mismatches (seed ${SEED}):\n${JSON.stringify(mismatches.slice(0, 8), null, 1)}\n` +
      `duplicates: ${JSON.stringify(dupes.slice(0, 5))}\nunknown: ${JSON.stringify(unknown.slice(0, 5))}\n` +
      `callbacks: ${callbackMismatches.slice(0, 5).join('\n')}`);
    assert.equal(agreements, cases);
    const show = (xs) => xs.slice(0, 6).join('\n  ');
    assert.deepEqual({ problems: problems.length, refusedByRls: r.refusedByRls.length, refusedOther: r.refusedOther.length,
      missing: r.missing.length, dupes: r.dupes.length, unknown: r.unknown.length, callbacks: r.callbacks.length },
    { problems: 0, refusedByRls: 0, refusedOther: 0, missing: 0, dupes: 0, unknown: 0, callbacks: 0 },
    `replay channels (seed ${SEED}):\nproblems:\n  ${show(problems)}\nRLS refuses:\n  ${show(r.refusedByRls)}\n` +
      `filter/event refuse:\n  ${show(r.refusedOther)}\nmissing:\n  ${show(r.missing)}\nduplicated:\n  ${show(r.dupes)}\n` +
      `unknown:\n  ${show(r.unknown)}\ncallbacks:\n  ${show(r.callbacks)}`);
    assert.ok(rs.replay > 0 && rs.replayWant > 0, `replays happened and had something to deliver (${rs.replay} cases, ${rs.replayWant} to deliver)`);
  });
});
