import pino from 'pino';
import postgres from 'postgres';
import { deriveSession } from '../../src/domain/sessions';
import { openPostgresStore } from '../../src/store/postgres';
import { readPgMigrations } from '../../src/store/postgres/migrate';
import { foldCounters } from '../../src/store/postgres/stats';
import type { Tx } from '../../src/store/postgres/connection';
import type { IncomingEvent, Store } from '../../src/store/store';
import { callback, newCall, newSession, POLICY, T0 } from '../helpers/store-contract';
import { describeWithPostgres, freshPgDatabase, type PgDatabase } from '../helpers/pg';

/**
 * What only PostgreSQL has to prove: two pools on one database stand for two instances, and their
 * writes race for real (READ COMMITTED, separate connections), with no writer thread to serialise them.
 */

const silent = pino({ level: 'silent' });
const WRITE_TIMEOUT_MS = 10_000;

describeWithPostgres('PostgreSQL store: two instances on one database', () => {
  let db: PgDatabase;
  let a: Store;
  let b: Store;
  let peek: postgres.Sql;

  const open = () => openPostgresStore({ kind: 'postgres', url: db.url, poolSize: 10 }, { log: silent, writeTimeoutMs: WRITE_TIMEOUT_MS });

  beforeEach(async () => {
    db = await freshPgDatabase();
    [a, b] = [await open(), await open()];
    peek = postgres(db.url, { max: 1, onnotice: () => undefined });
  });

  afterEach(async () => {
    await Promise.allSettled([a?.close(), b?.close(), peek?.end()]);
    await db.drop();
  });

  const count = async (table: 'calls' | 'siprec_sessions' | 'siprec_events', callSid: string) => {
    const [row] = await peek<Array<{ n: string }>>`SELECT count(*) AS n FROM ${peek(table)} t
      WHERE ${table === 'siprec_events' ? peek`t.session_id IN (SELECT id FROM siprec_sessions WHERE call_sid = ${callSid})` : peek`t.call_sid = ${callSid}`}`;
    return Number(row!.n);
  };

  it('stores the same callback once when both apply it at once, 200 times over', async () => {
    const call = newCall();
    await a.recordRequested(call, [newSession('gridspace')]);
    const results: string[] = [];
    for (let i = 0; i < 200; i += 1) {
      const e = callback({ callSid: call.callSid, siprecName: 'gridspace', siprecSid: 'SR' + 'a'.repeat(32) }, { receivedAt: T0 + i, occurredAt: T0 + i, event: i % 2 ? 'siprec-started' : 'siprec-error' });
      results.push(...(await Promise.all([a.applyEvent(e, POLICY), b.applyEvent(e, POLICY)])));
    }
    expect(results.filter((r) => r === 'stored')).toHaveLength(200);
    expect(results.filter((r) => r === 'duplicate')).toHaveLength(200);
    expect(await count('siprec_events', call.callSid)).toBe(200);
    expect(await count('siprec_sessions', call.callSid)).toBe(1);
  });

  it('gives the state one instance would when the events of one session arrive on both in shuffled order', async () => {
    for (let round = 0; round < 20; round += 1) {
      const call = newCall();
      const sid = `SR${round.toString().padStart(32, '0')}`;
      const events: IncomingEvent[] = [
        callback({ callSid: call.callSid, siprecSid: sid }, { event: 'siprec-started', receivedAt: T0 + 1 }),
        callback({ callSid: call.callSid, siprecSid: sid }, { event: 'siprec-error', receivedAt: T0 + 2, errorCode: '31920', errorMessage: 'lost' }),
        callback({ callSid: call.callSid, siprecSid: sid }, { event: 'siprec-error', receivedAt: T0 + 3, errorCode: '31921', errorMessage: 'later' }),
        callback({ callSid: call.callSid, siprecSid: sid }, { event: 'siprec-stopped', receivedAt: T0 + 4 }),
      ].sort(() => Math.random() - 0.5);
      // Unknown to the ledger in half the rounds: the first event to commit creates the session.
      if (round % 2) await a.recordRequested(call, [newSession('gridspace')]);
      await Promise.all(events.map((e, i) => (i % 2 ? a : b).applyEvent(e, POLICY)));
      const expected = deriveSession(events);
      const detail = await b.getCall(call.callSid);
      expect(detail?.sessions).toHaveLength(1);
      expect(detail!.sessions[0]).toMatchObject({
        state: expected.state,
        errorCode: expected.errorCode,
        errorMessage: expected.errorMessage,
        startedAt: new Date(expected.startedAt!).toISOString(),
        stoppedAt: new Date(expected.stoppedAt!).toISOString(),
      });
      expect(detail!.sessions[0]!.events).toHaveLength(4);
    }
  });

  it('gives one call and one session when a callback reaches B before A has committed the voice webhook', async () => {
    for (let i = 0; i < 50; i += 1) {
      const call = newCall();
      const e = callback({ callSid: call.callSid, siprecName: 'gridspace' });
      // B's callback starts first, A's voice write a moment later, or the other way round.
      const early = i % 2 ? b.applyEvent(e) : a.recordRequested(call, [newSession('gridspace')]);
      const late = i % 2 ? a.recordRequested(call, [newSession('gridspace')]) : b.applyEvent(e);
      await Promise.all([early, late]);
      expect(await count('calls', call.callSid)).toBe(1);
      expect(await count('siprec_sessions', call.callSid)).toBe(1);
      const detail = await a.getCall(call.callSid);
      expect(detail?.call.from).toBe(call.from);
      expect(detail?.sessions[0]).toMatchObject({ state: 'active', siprecSid: e.siprecSid, connectorName: 'Gridspace_1' });
    }
  });

  it('never lets two REST starts at once, one on each, both pass the name check or the two-open check', async () => {
    for (let i = 0; i < 20; i += 1) {
      const call = newCall();
      await a.recordRequested(call, [newSession('first')]);
      const sameName = await Promise.all([a, b].map((s) => s.reserveStart(call, newSession('second'), 2)));
      expect(sameName.filter((r) => r.reserved)).toHaveLength(1);
      expect(sameName.find((r) => !r.reserved)).toMatchObject({ reason: 'name-taken' });
      const other = newCall();
      await a.recordRequested(other, [newSession('first')]);
      const lastSlot = await Promise.all([a, b].map((s, n) => s.reserveStart(other, newSession(`s${n}`), 2)));
      expect(lastSlot.filter((r) => r.reserved)).toHaveLength(1);
      expect(lastSlot.find((r) => !r.reserved)).toMatchObject({ reason: 'too-many-open' });
      expect(await count('siprec_sessions', other.callSid)).toBe(2);
    }
  });

  it('never hands one alert to both when they claim at once', async () => {
    const calls = Array.from({ length: 40 }, () => newCall());
    for (const call of calls) {
      await a.applyEvent(callback({ callSid: call.callSid }, { event: 'siprec-error', errorCode: '31920' }), { ...POLICY, burst: { count: 1000, windowMs: 1 } });
    }
    const claimed: string[] = [];
    for (let round = 0; round < 10; round += 1) {
      const [fromA, fromB] = await Promise.all([a.alerts.claimDue(T0 + 1, 60_000, 3), b.alerts.claimDue(T0 + 1, 60_000, 3)]);
      claimed.push(...fromA.map((x) => x.id), ...fromB.map((x) => x.id));
    }
    expect(new Set(claimed).size).toBe(claimed.length);
    expect(claimed.length).toBe(40);
  });
});

describeWithPostgres('PostgreSQL store: stat counters kept per connection', () => {
  let db: PgDatabase;
  beforeEach(async () => {
    db = await freshPgDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  it('keeps the same counts once the rows of closed connections are folded into one', async () => {
    const open = () => openPostgresStore({ kind: 'postgres', url: db.url, poolSize: 4 }, { log: silent, writeTimeoutMs: WRITE_TIMEOUT_MS });
    const [a, b] = [await open(), await open()];
    for (let i = 0; i < 30; i += 1) {
      const call = newCall();
      await (i % 2 ? a : b).recordRequested(call, [newSession('gridspace')]);
      await Promise.all([a, b].map((s, n) => s.applyEvent(callback({ callSid: call.callSid, siprecSid: `SR${String(i).padStart(32, '0')}` }, { event: n ? 'siprec-started' : 'siprec-stopped', receivedAt: T0 + n * 1000 }))));
    }
    const before = [await a.getStats(T0 + 5000), await a.countSessionsByState()];
    await b.close();
    const peek = postgres(db.url, { max: 1, onnotice: () => undefined });
    try {
      // Rows written by connections that are no longer there, and those folded into pid 0.
      const rows = async () =>
        (await peek<Array<{ dead: string; folded: string }>>`SELECT
          count(*) FILTER (WHERE pid <> 0 AND pid NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)) AS dead,
          count(*) FILTER (WHERE pid = 0) AS folded
          FROM (SELECT pid FROM session_state_counts UNION ALL SELECT pid FROM event_minute_counts) c`)[0]!;
      // B's backends end a moment after its pool has closed.
      for (let tries = 0; tries < 25 && Number((await rows()).dead) === 0; tries += 1) await new Promise((r) => setTimeout(r, 200));
      expect(Number((await rows()).dead)).toBeGreaterThan(0);
      expect(await peek.begin((tx) => foldCounters(tx as unknown as Tx))).toBe(true);
      expect(await rows()).toMatchObject({ dead: '0' });
      expect(Number((await rows()).folded)).toBeGreaterThan(0);
      expect([await a.getStats(T0 + 5000), await a.countSessionsByState()]).toEqual(before);
      expect(before[1]).toMatchObject({ stopped: 30 });
    } finally {
      await peek.end();
      await a.close();
    }
  });
});

describeWithPostgres('PostgreSQL store: migrations', () => {
  let db: PgDatabase;
  const stores: Store[] = [];

  beforeEach(async () => {
    db = await freshPgDatabase();
  });
  afterEach(async () => {
    await Promise.allSettled(stores.splice(0).map((s) => s.close()));
    await db.drop();
  });

  const open = () => openPostgresStore({ kind: 'postgres', url: db.url, poolSize: 2 }, { log: silent });

  it('applies each migration once when three instances boot at once on an empty database', async () => {
    stores.push(...(await Promise.all([open(), open(), open()])));
    const peek = postgres(db.url, { max: 1, onnotice: () => undefined });
    try {
      const rows = await peek<Array<{ version: number }>>`SELECT version FROM schema_migrations ORDER BY version`;
      expect(rows.map((r) => r.version)).toEqual(readPgMigrations().map((m) => m.version));
    } finally {
      await peek.end();
    }
  });

  it('refuses a database whose schema is newer than the code, saying so', async () => {
    stores.push(await open());
    const peek = postgres(db.url, { max: 1, onnotice: () => undefined });
    try {
      await peek`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '999_future.sql', 0)`;
    } finally {
      await peek.end();
    }
    const latest = readPgMigrations().at(-1)!.version;
    await expect(open()).rejects.toThrow(`the database is at schema version 999, newer than this siprec-control knows (${latest})`);
  });
});
