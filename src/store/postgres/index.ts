import type { OpenStoreOptions, StorageConfig } from '..';
import type { PurgeResult, Store } from '../store';
import { toSessionView, type CallRow, type SessionRow } from '../rows';
import { connectAtBoot } from './boot';
import { createPool, deadlined, type Sql, type Tx } from './connection';
import { listSessions } from './listing';
import { createPostgresOutbox, heldAlertsOver } from './outbox';
import { purgeOlderThan } from './purge';
import { releaseStart, reserveStart } from './start-reservations';
import { countSessionsByState, foldCounters, getStats } from './stats';
import { connectorSummary, getCall, stuckRequested } from './views';
import { applyEvent, markStopRequested, recordRequested, recordStarted } from './writes';

export { migratePostgres } from './migrate';
export { databaseHosts, redactDatabaseUrl } from './url';

type PostgresStorage = Extract<StorageConfig, { kind: 'postgres' }>;

/** A callback is answered 503 within 5 s when the database cannot take it: 4 s for the write, then the answer. */
export const DEFAULT_WRITE_TIMEOUT_MS = 4000;
const FOLD_EVERY_MS = 60_000;

/**
 * The server-side limit on each statement and lock wait: below the client-side deadline, so that a
 * server that answers (a lock held elsewhere, a slow plan) fails the statement itself and keeps the
 * connection, and only a server that does not answer at all costs the pool its connections.
 */
export const serverTimeoutMs = (deadlineMs: number) => Math.max(50, Math.round(deadlineMs - Math.max(100, deadlineMs / 5)));

/**
 * The ledger on PostgreSQL. Boots as connectAtBoot says (migrations applied under an advisory lock),
 * then every operation runs against a pool with a deadline (connection.ts): writes in READ COMMITTED
 * transactions that lock the call's row first (writes.ts); reads as single statements, each one
 * snapshot (a multi-statement read would need REPEATABLE READ and two more round trips).
 */
export async function openPostgresStore(storage: PostgresStorage, options: OpenStoreOptions): Promise<Store> {
  const ms = options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
  const mode = options.mode ?? 'server';
  await connectAtBoot(storage.url, mode, options.log);
  const pool = (max: number) =>
    createPool(storage.url, {
      max,
      applicationName: `siprec-control ${mode}`,
      statementTimeoutMs: serverTimeoutMs(ms),
      connectTimeoutSeconds: Math.max(1, ms / 1000),
    });
  const db = deadlined(storage.url, () => pool(storage.poolSize), options.log);
  const held = await heldAlertsOver(db.sql);

  // Folds the stat counters of connections that are gone (stats.ts), so reads sum few rows.
  const fold = mode === 'server' ? setInterval(() => void db.tx('folding stat counters', ms, foldCounters).catch(() => undefined), FOLD_EVERY_MS) : undefined;
  fold?.unref();

  const write = <T>(what: string, deadlineMs: number, fn: (tx: Tx) => Promise<T>) => db.tx(what, deadlineMs, fn);
  // Reads that need one snapshot are one statement each (views.ts, listing.ts, stats.ts): no BEGIN and COMMIT round trips.
  const read = <T>(what: string, fn: (sql: Sql) => Promise<T>) => db.run(what, ms, fn);

  return {
    recordRequested: (call, sessions) => write('recording the call', ms, (tx) => recordRequested(tx, call, sessions)),
    applyEvent: (event, policy) => write('storing the status callback', ms, (tx) => applyEvent(tx, event, policy)),
    reserveStart: (call, session, maxOpen) => write('reserving the start', ms, (tx) => reserveStart(tx, call, session, maxOpen)),
    releaseStart: (reservation) => write('releasing the start', ms, (tx) => releaseStart(tx, reservation)),
    recordStarted: (call, session, at) => write('recording the started session', ms, (tx) => recordStarted(tx, call, session, at)),
    markStopRequested: (call, names, at) => write('recording the stop request', ms, (tx) => markStopRequested(tx, call, names, at)),

    getCall: (callSid) => read('reading the call', (sql) => getCall(sql, callSid)),
    routeOf: async (callSid) => {
      const rows = await read("reading the call's route", (sql) => sql<Array<Pick<CallRow, 'route_key'>>>`SELECT route_key FROM calls WHERE call_sid = ${callSid}`);
      return rows[0]?.route_key ?? null;
    },
    openSessions: async (callSid) => {
      const rows = await read('reading open sessions', (sql) => sql<SessionRow[]>`SELECT * FROM siprec_sessions
        WHERE call_sid = ${callSid} AND state IN ('requested', 'active') AND stop_requested_at IS NULL ORDER BY id`);
      return rows.map(toSessionView);
    },
    listSessions: (query) => read('listing sessions', (sql) => listSessions(sql, query)),
    connectorSummary: (now) => read('summarising connectors', (sql) => connectorSummary(sql, now)),
    stuckRequested: (before) => read('counting stuck sessions', (sql) => stuckRequested(sql, before)),
    getStats: (now) => read('computing stats', (sql) => getStats(sql, now)),
    countSessionsByState: () => read('counting sessions', (sql) => countSessionsByState(sql)),

    alerts: createPostgresOutbox(db, held, ms),

    purgeOlderThan: (cutoff, batchSize = 500, now = Date.now()): Promise<PurgeResult> => purgeOlderThan(db, () => pool(1), ms, cutoff, batchSize, now),

    // A real commit, as every acknowledged write needs: a read-only standby or held locks fail here.
    ping: async () => {
      const at = Date.now();
      await write('pinging the database', ms, (tx) => tx`INSERT INTO readiness (id, checked_at) VALUES (1, ${at})
        ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`);
    },
    close: async () => {
      clearInterval(fold);
      await db.end();
    },
  };
}
