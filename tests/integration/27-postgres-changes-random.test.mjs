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
// TC_RANDOM_CASES (default 20000) sets how many (binding, change) cases,
// counting bindings on the changed table; TC_RANDOM_SEED replays a run.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { T, waitFor } from './harness.mjs';
import { DEMO, startStack } from './dbharness.mjs';

const CASES = Number(process.env.TC_RANDOM_CASES || 20000);
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
      return { table, op, sql: `update public.technicians set ${set}${touch} where id = ${rnd('technicians')} returning id;` };
    }
    case 'technicians.DELETE':
      return del('public.tc_rnd_deletable_technician(id)');
    default: throw new Error(`${table}.${op}`);
  }
}

// ---- the test -------------------------------------------------------------

describe('postgres changes: randomized agreement with PostgreSQL', { timeout: T(Math.max(600000, CASES * 20)) }, () => {
  let stack, session;
  const principals = []; // {name, role, claims, client, channels: [{topic, bindings}], raw: []}
  const bindings = []; // {principal, topic, idx, id, table, event, conds, filter, callbacks}

  before(async () => {
    stack = await startStack();
    const db = stack.db;
    // Extra users, made as db/demo.sql makes them (cheaper bcrypt): the
    // sign-up trigger writes their profiles and technician rows.
    const extra = [];
    for (let i = 1; i <= 10; i++) extra.push({ email: `cust${i}@random.demo`, role: 'customer' });
    for (let i = 1; i <= 6; i++) extra.push({ email: `tech${i}@random.demo`, role: 'technician', verified: i <= 4 });
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
    const emails = [...Object.values(DEMO).map((u) => u.email), ...extra.map((u) => u.email)];
    for (const email of emails) {
      const s = await stack.signIn(email);
      principals.push({ name: email, role: 'authenticated', claims: s.claims, client: s.client });
    }
    principals.push({ name: 'anon', role: 'anon', claims: { role: 'anon' }, client: stack.client(stack.anonKey) });
    for (const n of [1, 2]) {
      principals.push({ name: `service${n}`, role: 'service_role', claims: { role: 'service_role' }, client: stack.client(stack.serviceKey) });
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

  test(`${CASES} random (binding, change) cases agree with PostgreSQL (seed ${SEED})`, async () => {
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
    const st = {
      customers: (await db.rows("select id from public.profiles where role = 'customer'")).map((r) => r.id),
      technicians: (await db.rows('select id from public.technicians')).map((r) => r.id),
      demoIds: Object.values(DEMO).map((u) => u.id),
    };

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
    // The sentinel: every table, every event, no filter, service_role.
    const sentinel = { raw: [], client: stack.client(stack.serviceKey) };
    sentinel.client.realtime.socketAdapter.onMessage((m) => {
      if (m.event === 'postgres_changes') sentinel.raw.push(m.payload.data);
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

    // The writer and the oracle.
    const changes = []; // {seq, table, op, id, key, expected: Set('topic#id'), detail}
    let cases = 0;
    let skipped = 0;
    let seq = 0;
    const stats = { filterTrue: 0, rlsTrue: 0, expected: 0 };
    const timing = { sentinel: 0, start: Date.now() };

    /** Filter results: bindings of the table -> boolean, on the row as it is now (superuser). */
    const filterSql = (table, id, bs) => {
      const exprs = bs.map((b, i) => `coalesce(${b.conds.length ? b.conds.map((c) => c.sql).join(' and ') : 'true'}, false) as f${i}`);
      return `select 'F|' || concat_ws(',', ${bs.map((_, i) => `f${i}`).join(', ')}) from (select ${exprs.join(', ')} from public.${table} where id = '${id}') x;`;
    };
    /** RLS results per principal: EXISTS(row) run as that principal. */
    const rlsSql = (table, id, pis) => pis.map((pi) => {
      const p = principals[pi];
      // No SELECT privilege: nothing is visible (and the query would fail).
      if (!canSelect[`${p.role}.${table}`]) return `select 'R|${pi}|f';`;
      return `set local role ${p.role};\nset local request.jwt.claims to ${q(JSON.stringify(p.claims))};\n` +
        `select 'R|${pi}|' || exists (select 1 from public.${table} where id = '${id}');\nreset role;`;
    }).join('\n');
    const parseOracle = (out, bs) => {
      const f = new Map();
      const r = new Map();
      for (const line of out.split('\n')) {
        if (line.startsWith('F|')) line.slice(2).split(',').forEach((v, i) => f.set(bs[i], v === 't'));
        else if (line.startsWith('R|')) { const [, pi, v] = line.split('|'); r.set(Number(pi), v === 't' || v === 'true'); }
      }
      return { f, r };
    };

    const published = (table, op) => TABLES[table].events.includes(op);
    let lastRefresh = 0;
    while (cases < CASES) {
      if (seq - lastRefresh >= 25) { await refreshPools(); lastRefresh = seq; }
      const ch = randomChange(st);
      const bs = byTable[ch.table];
      const pis = principalsOn[ch.table];
      let id;
      let oracle;
      if (ch.op === 'DELETE') {
        const picked = (await session.run(ch.pickSql)).trim();
        if (!picked) { skipped++; continue; }
        id = picked;
        // The old image as the server gets it: the whole row (replica
        // identity FULL) or only the key (DEFAULT: every other column NULL).
        const nonKey = Object.keys(TABLES[ch.table].cols).filter((c) => c !== 'id');
        const nulling = TABLES[ch.table].keyOnly
          ? `alter table public.${ch.table} ${nonKey.map((c) => `alter column ${c} drop not null`).join(', ')};\n` +
            `update public.${ch.table} set ${nonKey.map((c) => `${c} = null`).join(', ')} where id = '${id}';\n`
          : '';
        const out = await session.run(`${bs.length ? filterSql(ch.table, id, bs) : ''}
begin;
set local session_replication_role = replica;
${nulling}${rlsSql(ch.table, id, pis)}
rollback;`);
        oracle = parseOracle(out, bs);
        if (TABLES[ch.table].keyOnly) {
          for (const b of bs) if (b.conds.some((c) => c.col !== 'id')) oracle.f.set(b, false);
        }
        const del = await session.run(`begin; set local session_replication_role = replica;
delete from public.${ch.table} where id = '${id}' returning id;
commit;`);
        if (del.trim() !== id) throw new Error(`delete of ${ch.table} ${id} did not happen: ${del}`);
      } else {
        let out;
        try {
          out = await session.run(`begin; set local session_replication_role = replica;\n${ch.sql}\ncommit;`);
        } catch (e) {
          if (/duplicate key|violates/.test(e.message)) { skipped++; continue; } // e.g. a second live bid
          throw e;
        }
        const ids = out.trim().split('\n').filter((l) => /^[0-9a-f-]{36}$/.test(l));
        if (ids.length !== 1) { skipped++; continue; } // nothing to update / no candidate row
        id = ids[0];
        const o = await session.run(`${bs.length ? filterSql(ch.table, id, bs) : ''}
begin;
${rlsSql(ch.table, id, pis)}
rollback;`);
        oracle = parseOracle(o, bs);
      }
      seq++;
      if (ch.op === 'INSERT' && ch.table === 'profiles') st.customers.push(id);
      if (ch.op === 'INSERT' && ch.table === 'technicians') st.technicians.push(id);
      if (ch.op === 'DELETE' && ch.table === 'technicians') st.technicians = st.technicians.filter((x) => x !== id);

      let k = null;
      if (published(ch.table, ch.op)) {
        // Wait until the server has handled this change (so the next write
        // cannot change what its checks read).
        const t0 = Date.now();
        await waitFor(() => sentinel.raw.length > sentinelSeen, {
          timeout: T(10000), message: `the sentinel to get change #${seq} (${ch.op} ${ch.table} ${id})`,
        });
        timing.sentinel += Date.now() - t0;
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
        if (ev && fil && rls && published(ch.table, ch.op)) expected.add(`${b.topic}#${b.id}`);
        b.expectedCount = (b.expectedCount ?? 0) + (ev && fil && rls && published(ch.table, ch.op) ? 1 : 0);
      }
      stats.expected += expected.size;
      changes.push({ seq, table: ch.table, op: ch.op, id, key: k, expected, oracle });
    }

    // Every expected delivery has had time to arrive once the sentinel has
    // a last marker and every binding has its expected count.
    await session.run(`insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'tc_random_end', 'end');`);
    await waitFor(() => sentinel.raw.some((d) => d.table === 'notifications' && d.record?.type === 'tc_random_end'),
      { timeout: T(10000), message: 'the end marker at the sentinel' });
    const receivedCount = (b) => principals[b.principal].raw.filter((m) => m.topic === b.topic && m.ids.includes(b.id) &&
      m.data?.record?.type !== 'tc_random_end' && !preKeys.has(key(m.data))).length;
    await waitFor(() => bindings.every((b) => receivedCount(b) >= b.expectedCount), { timeout: T(15000), message: 'expected deliveries' })
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
    const bindingOf = new Map(bindings.map((b) => [`${b.topic}#${b.id}`, b]));
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

    const byOp = {};
    for (const c of changes) byOp[`${c.table}.${c.op}`] = (byOp[`${c.table}.${c.op}`] ?? 0) + 1;
    console.log(`# random postgres changes: seed ${SEED}, ${principals.length} subscribers, ${bindings.length} bindings, ` +
      `${changes.length} changes (${skipped} random writes changed nothing), ${cases} cases, ${agreements} agreements, ` +
      `${mismatches.length} mismatches, ${stats.expected} expected deliveries (filter true ${stats.filterTrue}, ` +
      `RLS true ${stats.rlsTrue}), ${dupes.length} duplicates, ${unknown.length} unknown deliveries, ` +
      `${callbackMismatches.length} bindings whose supabase-js callback count differs`);
    console.log(`# changes by kind: ${JSON.stringify(byOp)}; ${Date.now() - timing.start} ms, ${timing.sentinel} ms waiting for the server`);
    assert.ok(stats.expected > cases / 50, `the random cases deliver something often enough (${stats.expected} of ${cases})`);
    assert.deepEqual({ mismatches: mismatches.length, dupes: dupes.length, unknown: unknown.length, callbacks: callbackMismatches.length },
      { mismatches: 0, dupes: 0, unknown: 0, callbacks: 0 },
      `first mismatches (seed ${SEED}):\n${JSON.stringify(mismatches.slice(0, 8), null, 1)}\n` +
      `duplicates: ${JSON.stringify(dupes.slice(0, 5))}\nunknown: ${JSON.stringify(unknown.slice(0, 5))}\n` +
      `callbacks: ${callbackMismatches.slice(0, 5).join('\n')}`);
    assert.equal(agreements, cases);
  });
});
