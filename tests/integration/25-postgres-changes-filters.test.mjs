// Postgres Changes filters and values on a table of many column types,
// against PostgreSQL itself as the oracle: a binding with filter F receives
// exactly the rows `WHERE <F in SQL>` selects, its `new` record is what
// to_jsonb gives for the row, a select list trims the record, and every
// malformed subscription is refused with a clear reason while the server
// keeps working. Both serializer versions (vsn 1.0.0 and 2.0.0) of a stock
// supabase-js client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Inbox, RawWs, T, WebSocket, subscribe } from './harness.mjs';
import { DEMO, DEMO_PASSWORD, startStack } from './dbharness.mjs';

const VSNS = ['1.0.0', '2.0.0'];

const PREPARE = `
create type public.mood as enum ('sad', 'ok', 'happy');
create table public.typed (
  id int4 primary key, i2 int2, i4 int4, i8 int8, num numeric, f8 float8, b bool,
  t text, vc varchar(20), u uuid, tz timestamptz, ts timestamp, d date,
  jb jsonb, js json, ta text[], ia int4[], e public.mood, a text);
alter table public.typed replica identity full;
grant select on public.typed to anon, authenticated;

create table public.typed_rls (id int4 primary key, owner uuid, i4 int4, t text, a text);
alter table public.typed_rls replica identity full;
alter table public.typed_rls enable row level security;
create policy "own rows" on public.typed_rls for select to authenticated using (owner = (select auth.uid()));
grant select on public.typed_rls to authenticated;

create table public.hidden (id int4 primary key, t text);
grant select on public.hidden to anon, authenticated;

alter publication supabase_realtime add table public.typed, public.typed_rls;
`;

const COLS = 'id, i2, i4, i8, num, f8, b, t, vc, u, tz, ts, d, jb, js, ta, ia, e, a';
const U = (n) => `aaaaaaaa-0000-4000-8000-00000000000${n}`;
/** Row values (without id), SQL literals in COLS order. */
const ROWS = [
  `1, 5, 9007199254740993, 1.50, 2.5, true, 'hello', 'abc', '${U(1)}', '2024-01-01 10:00:00+00', '2024-01-01 10:00:00', '2024-01-01',
   '{"k": 1, "n": {"x": [1, 2]}}', '{"b": 2,  "a": 1}', '{a,b}', '{1,2}', 'happy', 'x'`,
  `3, 100, 100, 2.5, 1.5, false, 'Hello', 'xab', '${U(2)}', '2024-05-31 23:00:00+00', '2024-01-01 12:00:00', '2024-01-02',
   null, '"str"', '{"a,b",NULL}', '{}', 'sad', 'y'`,
  'null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null',
  `-32768, -1, -9223372036854775808, 12345678901234567890.123456789, 'NaN', null, 'a,b', '', '${U(3)}',
   '2024-01-01 10:00:00.123456+05:30', 'infinity', '0044-03-15 BC', '[]', '{"a": 1, "a": 2}', '{}', '{{1,2},{3,4}}', 'ok', 'z'`,
  `1, 5, 0, 0, 1e-7, true, E'h\\u00e9llo \\u00fcn\\u00efcode "q" \\\\ \\n \\U0001F600', 'b_', '${U(4)}', '2023-12-31 23:59:59.999999+00',
   '2024-01-01 12:00:00.000001', '2024-01-01', '{"s": "text", "t": true, "n": null, "f": 1.25}', '[1, 2 ,3]',
   E'{"with \\\\"quote\\\\"","x y"}', '{5}', 'happy', 'w'`,
  `2, 3, 100, -2.50, -1.5, false, 'HELLO', 'a%b', '${U(1)}', '2024-06-01 00:00:00+02', '-infinity', '2024-01-02',
   '{"a": [true, false, null]}', '{}', '{}', '{-7}', 'sad', null`,
  `2, 1, 42, 2.5000, 1.5, true, 'help', 'ab', '${U(5)}', '2024-01-01 10:00:00+00', '2024-01-01 10:00:00', '2024-01-03',
   '0', '1', '{x}', '{1}', 'ok', 'v'`,
  `7, 100, -5, 3, 1e300, false, '%literal_', 'a%b', null, '2024-02-29 12:00:00+00', '2024-02-29 00:00:00', '2024-02-29',
   '{"deep": {"er": {"est": "x"}}}', '[]', '{NULL}', '{null,1}', null, 'u'`,
];

/** [filter, the same condition in SQL]. */
const FILTERS = [
  ['i4=eq.5', 'i4 = 5'],
  ['i8=eq.9007199254740993', 'i8 = 9007199254740993'],
  ['num=eq.2.5', 'num = 2.5'],
  ['f8=eq.1.5', 'f8 = 1.5'],
  ['b=eq.true', 'b = true'],
  ['t=eq.hello', "t = 'hello'"],
  ['vc=eq.abc', "vc = 'abc'"],
  [`u=eq.${U(1)}`, `u = '${U(1)}'`],
  [`u=eq.${U(1).toUpperCase()}`, `u = '${U(1)}'`],
  ['tz=eq.2024-01-01T10:00:00Z', "tz = '2024-01-01T10:00:00Z'"],
  ['tz=eq.2024-01-01T15:30:00+05:30', "tz = '2024-01-01T15:30:00+05:30'"],
  ['ts=eq.2024-01-01T10:00:00', "ts = '2024-01-01T10:00:00'"],
  ['d=eq.2024-01-02', "d = '2024-01-02'"],
  ['e=eq.happy', "e = 'happy'"],
  ['i4=neq.5', 'i4 <> 5'],
  ['e=neq.sad', "e <> 'sad'"],
  ['t=neq.hello', "t <> 'hello'"],
  ['i2=lt.3', 'i2 < 3'],
  ['tz=lt.2024-06-01T00:00:00+02:00', "tz < '2024-06-01T00:00:00+02:00'"],
  ['t=lt.b', `t < 'b' collate "C"`],
  ['d=lt.2024-01-02', "d < '2024-01-02'"],
  ['num=lte.2.5', 'num <= 2.5'],
  ['ts=lte.2024-01-01T12:00:00', "ts <= '2024-01-01T12:00:00'"],
  ['i8=lte.0', 'i8 <= 0'],
  ['f8=gt.1.5', 'f8 > 1.5'],
  ['d=gt.2024-01-01', "d > '2024-01-01'"],
  ['ts=gt.2024-01-01T12:00:00', "ts > '2024-01-01T12:00:00'"],
  [`u=gt.${U(1)}`, `u > '${U(1)}'`],
  ['t=gt.Hello', `t > 'Hello' collate "C"`],
  ['i8=gte.100', 'i8 >= 100'],
  ['num=gte.0', 'num >= 0'],
  ['tz=gte.2024-01-01T10:00:00Z', "tz >= '2024-01-01T10:00:00Z'"],
  ['i4=in.(1,3,5)', 'i4 in (1, 3, 5)'],
  ['t=in.(hello,"a,b",HELLO)', "t in ('hello', 'a,b', 'HELLO')"],
  ['e=in.(happy,ok)', "e in ('happy', 'ok')"],
  [`u=in.(${U(1)},${U(3)})`, `u in ('${U(1)}', '${U(3)}')`],
  ['num=in.(2.5,0)', 'num in (2.5, 0)'],
  ['t=like.h%', "t like 'h%'"],
  ['vc=like.%b_', "vc like '%b_'"],
  ['vc=like.a\\%b', "vc like 'a\\%b'"],
  ['t=like.%literal\\_', "t like '%literal\\_'"],
  ['t=ilike.he%', "t ilike 'he%'"],
  ['vc=ilike.AB%', "vc ilike 'AB%'"],
  ['t=is.null', 't is null'],
  ['b=is.true', 'b is true'],
  ['b=is.false', 'b is false'],
  ['jb=is.null', 'jb is null'],
  ['ta=is.null', 'ta is null'],
  ['e=is.null', 'e is null'],
  ['tz=is.null', 'tz is null'],
  ['t=match.^h.*o$', "t ~ '^h.*o$'"],
  ['t=match.l{2}', "t ~ 'l{2}'"],
  ['t=imatch.^HEL', "t ~* '^HEL'"],
  ['vc=match.^a[%_]b$', "vc ~ '^a[%_]b$'"],
  ['i4=isdistinct.5', 'i4 is distinct from 5'],
  ['b=isdistinct.true', 'b is distinct from true'],
  ['e=isdistinct.happy', "e is distinct from 'happy'"],
  ['i4=not.eq.5', 'not (i4 = 5)'],
  ['t=not.like.h%', "not (t like 'h%')"],
  ['i4=not.in.(1,5)', 'not (i4 in (1, 5))'],
  ['b=not.is.true', 'b is not true'],
  ['t=not.is.null', 't is not null'],
  ['i4=not.isdistinct.5', 'i4 is not distinct from 5'],
  ['t=not.ilike.h%', "not (t ilike 'h%')"],
  ['i2=not.lt.3', 'not (i2 < 3)'],
  ['t=not.imatch.^hel', "not (t ~* '^hel')"],
  ['i4=gt.1,t=like.h%', "i4 > 1 and t like 'h%'"],
  ['e=eq.happy,b=is.true,num=gte.1', "e = 'happy' and b is true and num >= 1"],
  ['i4=gte.1,i4=lte.5', 'i4 >= 1 and i4 <= 5'],
  ['i2=gte.1,f8=lt.2,d=neq.2024-01-03,e=not.is.null', "i2 >= 1 and f8 < 2 and d <> '2024-01-03' and e is not null"],
];

describe('postgres_changes filters and values', { timeout: 120000 }, () => {
  let stack, db;

  before(async () => {
    stack = await startStack({ prepare: (d) => d.psql(PREPARE) });
    db = stack.db;
  });
  after(() => stack?.stop());

  /** A supabase-js client with serializer vsn, signed in as a demo user (or anon). */
  async function clientFor(vsn, email) {
    const c = stack.client(stack.anonKey, { realtime: { transport: WebSocket, vsn } });
    if (email) {
      const { error } = await c.auth.signInWithPassword({ email, password: DEMO_PASSWORD });
      assert.ifError(error);
    }
    return c;
  }

  /** A channel with one Inbox per binding; subscribes, resolves {ch, boxes, status}. */
  async function channel(client, topic, bindings, { expect = 'SUBSCRIBED' } = {}) {
    const ch = client.channel(topic);
    const boxes = bindings.map((b, i) => {
      const box = new Inbox(`${topic}#${i} ${b.filter ?? ''}`);
      ch.on('postgres_changes', { schema: 'public', ...b }, (p) => box.push(p));
      return box;
    });
    const st = await subscribe(ch, { timeout: T(10000) });
    if (expect) assert.equal(st.status, expect, `${topic}: ${st.err?.message}`);
    return { ch, boxes, status: st.status, message: st.err?.message ?? '' };
  }

  /** to_jsonb of rows, as PostgreSQL prints them in UTC, by id. */
  async function jsonRows(table, where) {
    const out = await db.psql(`set timezone = 'UTC';\nselect coalesce(json_agg(to_jsonb(x) order by id), '[]') from public.${table} x where ${where};\n`);
    return new Map(JSON.parse(out.trim().split('\n').pop()).map((r) => [r.id, r]));
  }

  for (const vsn of VSNS) {
    test(`vsn ${vsn}: each filter delivers exactly the rows its WHERE selects; values equal to_jsonb`, async () => {
      const base = vsn === '1.0.0' ? 1000 : 2000;
      const marker = base + 999;
      const client = await clientFor(vsn, DEMO.alice.email);
      // Channels of a dozen bindings each, each with a marker binding last.
      const chunks = [];
      for (let i = 0; i < FILTERS.length; i += 12) chunks.push(FILTERS.slice(i, i + 12));
      const chans = [];
      for (const [k, chunk] of chunks.entries()) {
        const bindings = chunk.map(([f]) => ({ event: 'INSERT', table: 'typed', filter: f }));
        bindings.push({ event: 'INSERT', table: 'typed', filter: `id=eq.${marker}` });
        chans.push(await channel(client, `filters-${vsn}-${k}`, bindings));
      }
      const all = await channel(client, `all-${vsn}`, [{ event: '*', table: 'typed' }]);

      await db.psql(`insert into public.typed (${COLS}) values\n${ROWS.map((r, i) => `(${base + i}, ${r})`).join(',\n')};`);
      await db.psql(`insert into public.typed (id, t) values (${marker}, 'marker')`);
      for (const c of chans) await c.boxes.at(-1).wait((p) => p.new.id === marker, { timeout: T(10000), message: 'marker' });
      await all.boxes[0].wait((p) => p.new.id === marker, { timeout: T(10000), message: 'marker (all)' });

      const range = `id between ${base} and ${base + ROWS.length - 1}`;
      const failures = [];
      for (const [k, chunk] of chunks.entries()) {
        for (const [j, [f, where]] of chunk.entries()) {
          const want = (await db.rows(`select id from public.typed where ${range} and (${where}) order by id`)).map((r) => r.id - base);
          const got = chans[k].boxes[j].items.map((p) => p.new.id).filter((id) => id !== marker).map((id) => id - base);
          if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${f}: got rows ${JSON.stringify(got)}, PostgreSQL selects ${JSON.stringify(want)}`);
        }
      }
      assert.deepEqual(failures, [], `filters disagreeing with PostgreSQL:\n${failures.join('\n')}`);
      // Every filter selected something somewhere, and none selected everything: the matrix is not vacuous.
      assert.ok(chans.every((c) => c.boxes.slice(0, -1).some((b) => b.items.length > 1)));

      // Values: `new` is to_jsonb of the row, column by column.
      const ref = await jsonRows('typed', range);
      const got = all.boxes[0].items.filter((p) => p.new.id !== marker);
      assert.equal(got.length, ROWS.length);
      for (const p of got) {
        assert.equal(p.eventType, 'INSERT');
        assert.deepEqual(p.new, ref.get(p.new.id), `row ${p.new.id - base}`);
      }

      // UPDATE and DELETE: new and old are to_jsonb of the row after and before.
      const before = ref.get(base);
      await db.psql(`update public.typed set t = 'changed', jb = '{"z": [null]}', ta = '{p,q}', tz = '2025-03-04 05:06:07+00' where id = ${base}`);
      const upd = await all.boxes[0].wait((p) => p.eventType === 'UPDATE', { timeout: T(10000) });
      assert.deepEqual(upd.old, before);
      assert.deepEqual(upd.new, (await jsonRows('typed', `id = ${base}`)).get(base));
      assert.equal(upd.new.tz, '2025-03-04T05:06:07+00:00');
      const gone = (await jsonRows('typed', `id = ${base + 3}`)).get(base + 3);
      await db.psql(`delete from public.typed where id = ${base + 3}`);
      const del = await all.boxes[0].wait((p) => p.eventType === 'DELETE', { timeout: T(10000) });
      assert.deepEqual(del.old, gone);
      assert.deepEqual(del.new, {});
      await client.removeAllChannels();
    });
  }

  test('raw frames: the data object (columns, record, old_record, ids) for both serializers', async () => {
    for (const vsn of VSNS) {
      const id = vsn === '1.0.0' ? 3001 : 3002;
      const raw = await RawWs.open(stack.server, { vsn });
      const topic = `realtime:raw-${vsn}`;
      const bindings = [{ event: '*', schema: 'public', table: 'typed', filter: `id=eq.${id}` },
        { event: 'INSERT', schema: 'public', table: 'typed', filter: `id=eq.${id}`, select: ['i4'] }];
      const r = await raw.join(topic, { config: { postgres_changes: bindings } });
      assert.equal(r.payload.status, 'ok', JSON.stringify(r.payload));
      const ids = r.payload.response.postgres_changes.map((b) => b.id);
      assert.deepEqual(r.payload.response.postgres_changes, bindings.map((b, i) => ({ ...b, id: ids[i] })));
      const sys = await raw.frames.wait((f) => f.event === 'system' && f.topic === topic);
      const { position, ...rest } = sys.payload;
      assert.match(position, /^[0-9A-F]+\/[0-9A-F]+:\d+$/, 'start position');
      assert.deepEqual(rest, { extension: 'postgres_changes', status: 'ok', message: 'Subscribed to PostgreSQL', channel: `raw-${vsn}` });
      await db.psql(`insert into public.typed (${COLS}) values (${id}, ${ROWS[0]})`);
      // One message per distinct data: the select binding's record differs.
      const isPg = (f) => f.event === 'postgres_changes' && f.topic === topic;
      await raw.frames.waitCount(2, isPg, { timeout: T(10000) });
      const evs = raw.frames.items.filter(isPg);
      assert.equal(evs.length, 2);
      const ev = evs.find((f) => f.payload.ids.includes(ids[0]));
      const trimmed = evs.find((f) => f.payload.ids.includes(ids[1]));
      assert.deepEqual(ev.payload.ids, [ids[0]]);
      assert.deepEqual(trimmed.payload.ids, [ids[1]]);
      // Each event carries its position as the message ref, after the start
      // position, the same for both messages of one change.
      assert.match(ev.ref, /^[0-9A-F]+\/[0-9A-F]+:[1-9]\d*$/, 'the event\'s position');
      assert.equal(trimmed.ref, ev.ref);
      const key = (pos) => {
        const [lsn, ord] = pos.split(':');
        const [hi, lo] = lsn.split('/');
        return ((BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)) * 4294967296n + BigInt(ord);
      };
      assert.ok(key(ev.ref) > key(position), `${ev.ref} after ${position}`);
      assert.deepEqual(trimmed.payload.data.record, { id, i4: 5 });
      assert.deepEqual(trimmed.payload.data.columns, [{ name: 'id', type: 'int4' }, { name: 'i4', type: 'int4' }]);
      const d = ev.payload.data;
      assert.equal(d.schema, 'public');
      assert.equal(d.table, 'typed');
      assert.equal(d.type, 'INSERT');
      assert.equal(d.errors, null);
      assert.deepEqual(d.old_record ?? {}, {});
      assert.deepEqual(d.columns.map((c) => `${c.name}:${c.type}`), ['id:int4', 'i2:int2', 'i4:int4', 'i8:int8', 'num:numeric',
        'f8:float8', 'b:bool', 't:text', 'vc:varchar', 'u:uuid', 'tz:timestamptz', 'ts:timestamp', 'd:date', 'jb:jsonb', 'js:json',
        'ta:_text', 'ia:_int4', 'e:mood', 'a:text']);
      assert.deepEqual(d.record, (await jsonRows('typed', `id = ${id}`)).get(id));
      await raw.close();
    }
  });

  test('select: a binding with select gets only those columns plus the primary key', async () => {
    const client = await clientFor('2.0.0', DEMO.bob.email);
    const c = await channel(client, 'select-test', [
      { event: '*', table: 'typed', filter: 'id=gte.4000', select: ['id', 'a'] },
      { event: '*', table: 'typed', filter: 'id=gte.4000', select: ['a', 'i4'] },
      { event: 'INSERT', table: 'typed', filter: 'id=gte.4000' },
    ]);
    await db.psql(`insert into public.typed (${COLS}) values (4000, ${ROWS[0]});
                   update public.typed set a = 'changed', i4 = 77 where id = 4000;`);
    await c.boxes[2].wait((p) => p.new.id === 4000, { timeout: T(10000) });
    await c.boxes[0].waitCount(2, () => true, { timeout: T(10000) });
    await c.boxes[1].waitCount(2, () => true, { timeout: T(10000) });
    const [ins, upd] = c.boxes[0].items;
    assert.deepEqual(ins.new, { id: 4000, a: 'x' });
    assert.deepEqual(upd.new, { id: 4000, a: 'changed' });
    assert.deepEqual(upd.old, { id: 4000, a: 'x' });
    const [ins2, upd2] = c.boxes[1].items;
    assert.deepEqual(ins2.new, { id: 4000, a: 'x', i4: 5 });
    assert.deepEqual(upd2.old, { id: 4000, a: 'x', i4: 5 });
    assert.deepEqual(upd2.new, { id: 4000, a: 'changed', i4: 77 });
    assert.equal(Object.keys(c.boxes[2].items[0].new).length, 19, 'a binding without select on the same channel gets every column');
    await client.removeAllChannels();
  });

  test('RLS on a custom table: rows admitted by the policy and the filter only; anon nothing', async () => {
    const alice = await clientFor('1.0.0', DEMO.alice.email);
    const bob = await clientFor('2.0.0', DEMO.bob.email);
    const anon = await clientFor('2.0.0', null);
    const ca = await channel(alice, 'rls-a', [{ event: '*', table: 'typed_rls' }, { event: '*', table: 'typed_rls', filter: 'i4=gt.10' }]);
    const cb = await channel(bob, 'rls-b', [{ event: '*', table: 'typed_rls', filter: 'i4=gt.10' }]);
    const cn = await channel(anon, 'rls-n', [{ event: '*', table: 'typed_rls' }, { event: 'INSERT', table: 'typed', filter: 'id=eq.5999' }], { expect: null });
    const A = DEMO.alice.id;
    const B = DEMO.bob.id;
    await db.psql(`insert into public.typed_rls (id, owner, i4, t) values (1, '${A}', 5, 'a'), (2, '${A}', 50, 'a'), (3, '${B}', 50, 'b'), (4, null, 50, 'n');
                   update public.typed_rls set owner = '${B}' where id = 2;
                   update public.typed_rls set owner = '${A}' where id = 3;
                   delete from public.typed_rls where id = 1;`);
    await db.psql(`insert into public.typed_rls (id, owner, i4) values (99, '${A}', 99), (98, '${B}', 98);
                   insert into public.typed (id) values (5999);`);
    const tags = (box) => box.items.map((p) => `${p.eventType} ${p.eventType === 'DELETE' ? p.old.id : p.new.id}`);
    await ca.boxes[1].wait((p) => p.new.id === 99, { timeout: T(10000) });
    await cb.boxes[0].wait((p) => p.new.id === 98, { timeout: T(10000) });
    // The update moving row 2 to bob: its new image is bob's. Row 3 moved to alice: hers now.
    assert.deepEqual(tags(ca.boxes[0]), ['INSERT 1', 'INSERT 2', 'UPDATE 3', 'DELETE 1', 'INSERT 99']);
    assert.deepEqual(tags(ca.boxes[1]), ['INSERT 2', 'UPDATE 3', 'INSERT 99']);
    assert.deepEqual(tags(cb.boxes[0]), ['INSERT 3', 'UPDATE 2', 'INSERT 98']);
    if (cn.status === 'SUBSCRIBED') {
      await cn.boxes[1].wait((p) => p.new.id === 5999, { timeout: T(10000) });
      assert.deepEqual(cn.boxes[0].items, [], 'anon received rows of an RLS table');
    } else {
      assert.match(cn.message, /typed_rls|permission|Unable/);
    }
    for (const c of [alice, bob, anon]) await c.removeAllChannels();
  });

  test('bad subscriptions are refused with a reason; the server keeps working', async () => {
    for (const vsn of VSNS) {
      const client = await clientFor(vsn, DEMO.alice.email);
      const good = await channel(client, `still-good-${vsn}`, [{ event: 'INSERT', table: 'typed', filter: 'id=gte.6000' }]);
      const bad = [
        [{ table: 'typed', filter: 'i4=foo.5' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 'nope=eq.1' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 'i4=eq.abc' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 'i4=eq.99999999999' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 'u=eq.not-a-uuid' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 'b=eq.maybe' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 'tz=eq.yesterday' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 'e=lt.happy' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 'jb=eq.{}' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 'i4=in.1,2' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 'i4' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 'i4=eq.1,' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', filter: 't=match.(a' }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'typed', select: ['nope'] }, /^Unable to subscribe to changes with given parameters/],
        [{ table: 'no_such_table' }, /does not exist/],
        [{ table: 'hidden' }, /is not in publication/],
        [{ table: 'messages', event: 'UPDATE' }, /is not published/],
        [{ table: 'notifications', event: 'DELETE' }, /is not published/],
        [{ table: 'payments', event: 'UPDATE' }, /is not published/],
      ];
      for (const [k, [b, re]] of bad.entries()) {
        const c = await channel(client, `bad-${vsn}-${k}`, [{ event: '*', ...b }], { expect: 'CHANNEL_ERROR' });
        assert.match(c.message, re, JSON.stringify(b));
        await client.removeChannel(c.ch);
      }
      // A channel with a good binding and a bad one is refused as a whole.
      const mixed = await channel(client, `mixed-${vsn}`, [{ event: 'INSERT', table: 'typed' }, { event: 'INSERT', table: 'typed', filter: 'x=eq.1' }], { expect: 'CHANNEL_ERROR' });
      assert.match(mixed.message, /^Unable to subscribe/);
      await client.removeChannel(mixed.ch);
      // '*' on an INSERT-only table: joined, and only INSERTs arrive.
      const star = await channel(client, `star-${vsn}`, [{ event: '*', table: 'notifications', filter: `user_id=eq.${DEMO.alice.id}` }]);
      const n = crypto.randomUUID();
      await db.psql(`insert into public.notifications (id, user_id, type, title) values ('${n}', '${DEMO.alice.id}', 't', 'x');
                     update public.notifications set read_at = now() where id = '${n}';
                     delete from public.notifications where id = '${n}';`);
      const id = vsn === '1.0.0' ? 6001 : 6002;
      await db.psql(`insert into public.typed (id) values (${id});
                     insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'marker', 'm')`);
      await star.boxes[0].wait((p) => p.new.type === 'marker', { timeout: T(10000) });
      assert.deepEqual(star.boxes[0].items.map((p) => p.eventType), ['INSERT', 'INSERT']);
      // The channel joined before all of this still receives; a new one joins.
      await good.boxes[0].wait((p) => p.new.id === id, { timeout: T(10000) });
      const fresh = await channel(client, `fresh-${vsn}`, [{ event: 'INSERT', table: 'typed', filter: `id=eq.${id + 10}` }]);
      await db.psql(`insert into public.typed (id) values (${id + 10})`);
      await fresh.boxes[0].wait((p) => p.new.id === id + 10, { timeout: T(10000) });
      await client.removeAllChannels();
    }
  });
});
