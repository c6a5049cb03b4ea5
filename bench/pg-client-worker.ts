/**
 * One measured run of one PostgreSQL client, in a process of its own (so that neither client's JIT,
 * heap or GC debt lands on the other's figures): the transaction a siprec-stopped status callback
 * makes, `concurrency` at a time over a pool, as many as fit in the run's time and count bounds.
 * Started by bench/pg-clients.ts with its spec as JSON in argv[2]; prints one JSON line.
 */
import pg from 'pg';
import postgres from 'postgres';
import { deriveSession, type EventFact } from '../src/domain/sessions';
import { clientsCallSid, clientsSiprecSid } from './pg-clients-schema';
import { clusterCpuMicros, machineBusyMicros } from './proc';

export const CLIENT_KINDS = ['pg', 'pg-named', 'postgres'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

export interface WorkerSpec {
  client: ClientKind;
  url: string;
  pool: number;
  concurrency: number;
  /** The pre-made sessions [first, first + budget) are this run's: each transaction stops one. */
  first: number;
  budget: number;
  warmupSeconds: number;
  seconds: number;
  postmaster: number;
}

export interface WorkerResult {
  client: ClientKind;
  concurrency: number;
  committed: number;
  /** Committed during the warm-up (not measured, but stored all the same). */
  warmCommitted: number;
  errors: number;
  firstError?: string;
  seconds: number;
  /** Per transaction, ms: from asking the pool for a connection to COMMIT acknowledged. */
  latencies: number[];
  clientCpuMicros: number;
  pgCpuMicros: number;
  otherCpuMicros: number;
  /** The run stopped on its count bound rather than its time bound. */
  hitCountBound: boolean;
}

/** What a callback carries into the transaction, built the same way for both clients. */
interface Callback {
  callSid: string;
  siprecSid: string;
  name: string;
  timestampRaw: string;
  occurredAt: number;
  receivedAt: number;
  payload: Record<string, string>;
}

function callbackFor(n: number): Callback {
  const callSid = clientsCallSid(n);
  const siprecSid = clientsSiprecSid(n);
  const now = Date.now();
  const timestampRaw = new Date(now - 150).toISOString();
  return {
    callSid,
    siprecSid,
    name: 'gridspace',
    timestampRaw,
    occurredAt: now - 150,
    receivedAt: now,
    payload: {
      AccountSid: 'AC0123456789abcdef0123456789abcdef', ApiVersion: '2010-04-01', CallSid: callSid, CallStatus: 'in-progress',
      Called: '+15550001111', Caller: '+14155550100', Direction: 'inbound', From: '+14155550100', FromCountry: 'US',
      To: '+15550001111', ToCountry: 'US', SiprecSid: siprecSid, SiprecName: 'gridspace', SiprecEvent: 'siprec-stopped', Timestamp: timestampRaw,
    },
  };
}

type EventRow = { event: string; timestamp_raw: string; occurred_at: string | null; received_at: string; error_code: string | null; error_message: string | null };
const factOf = (r: EventRow): EventFact => ({
  event: r.event,
  timestampRaw: r.timestamp_raw,
  occurredAt: r.occurred_at === null ? null : Number(r.occurred_at),
  receivedAt: Number(r.received_at),
  errorCode: r.error_code,
  errorMessage: r.error_message,
});

// The statements pg sends; postgres.js's tagged templates below are the same SQL, written its way.
const SQL = {
  upsertCall: `INSERT INTO calls (call_sid, account_sid, from_number, to_number, direction, created_at, last_activity_at)
    VALUES ($1, $2, $3, $4, $5, $6, $6)
    ON CONFLICT (call_sid) DO UPDATE SET from_number = coalesce(calls.from_number, excluded.from_number),
      to_number = coalesce(calls.to_number, excluded.to_number), direction = coalesce(calls.direction, excluded.direction),
      last_activity_at = greatest(calls.last_activity_at, excluded.last_activity_at)`,
  session: 'SELECT id, siprec_sid FROM siprec_sessions WHERE call_sid = $1 AND name = $2 FOR UPDATE',
  insertEvent: `INSERT INTO siprec_events (session_id, siprec_sid, event, timestamp_raw, occurred_at, received_at, error_code, error_message, payload)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (siprec_sid, event, timestamp_raw) DO NOTHING RETURNING id`,
  events: 'SELECT event, timestamp_raw, occurred_at, received_at, error_code, error_message FROM siprec_events WHERE session_id = $1 ORDER BY id',
  update: `UPDATE siprec_sessions SET state = $1, started_at = $2, stopped_at = $3, error_code = $4, error_message = $5, updated_at = $6 WHERE id = $7`,
};

type Tx = (cb: Callback) => Promise<void>;

function pgTransaction(pool: pg.Pool, named: boolean): Tx {
  const q = (name: keyof typeof SQL, values: unknown[]): pg.QueryConfig => (named ? { name, text: SQL[name], values } : { text: SQL[name], values });
  return async (cb) => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(q('upsertCall', [cb.callSid, cb.payload.AccountSid, cb.payload.From, cb.payload.To, 'inbound', cb.receivedAt]));
      const session = (await c.query<{ id: string }>(q('session', [cb.callSid, cb.name]))).rows[0];
      if (!session) throw new Error(`no session for ${cb.callSid}`);
      const inserted = await c.query(q('insertEvent', [session.id, cb.siprecSid, 'siprec-stopped', cb.timestampRaw, cb.occurredAt, cb.receivedAt, null, null, JSON.stringify(cb.payload)]));
      if (inserted.rowCount) {
        const facts = (await c.query<EventRow>(q('events', [session.id]))).rows.map(factOf);
        const d = deriveSession(facts);
        await c.query(q('update', [d.state, d.startedAt, d.stoppedAt, d.errorCode, d.errorMessage, cb.receivedAt, session.id]));
      }
      await c.query('COMMIT');
      c.release();
    } catch (err) {
      // A connection in an unknown state is not put back.
      await c.query('ROLLBACK').catch(() => undefined);
      c.release(err as Error);
      throw err;
    }
  };
}

function postgresTransaction(sql: postgres.Sql): Tx {
  return async (cb) => {
    await sql.begin(async (tx) => {
      await tx`INSERT INTO calls (call_sid, account_sid, from_number, to_number, direction, created_at, last_activity_at)
        VALUES (${cb.callSid}, ${cb.payload.AccountSid!}, ${cb.payload.From!}, ${cb.payload.To!}, ${'inbound'}, ${cb.receivedAt}, ${cb.receivedAt})
        ON CONFLICT (call_sid) DO UPDATE SET from_number = coalesce(calls.from_number, excluded.from_number),
          to_number = coalesce(calls.to_number, excluded.to_number), direction = coalesce(calls.direction, excluded.direction),
          last_activity_at = greatest(calls.last_activity_at, excluded.last_activity_at)`;
      const [session] = await tx<Array<{ id: string }>>`SELECT id, siprec_sid FROM siprec_sessions WHERE call_sid = ${cb.callSid} AND name = ${cb.name} FOR UPDATE`;
      if (!session) throw new Error(`no session for ${cb.callSid}`);
      const inserted = await tx`INSERT INTO siprec_events (session_id, siprec_sid, event, timestamp_raw, occurred_at, received_at, error_code, error_message, payload)
        VALUES (${session.id}, ${cb.siprecSid}, ${'siprec-stopped'}, ${cb.timestampRaw}, ${cb.occurredAt}, ${cb.receivedAt}, ${null}, ${null}, ${tx.json(cb.payload)})
        ON CONFLICT (siprec_sid, event, timestamp_raw) DO NOTHING RETURNING id`;
      if (inserted.count) {
        const rows = await tx<EventRow[]>`SELECT event, timestamp_raw, occurred_at, received_at, error_code, error_message FROM siprec_events WHERE session_id = ${session.id} ORDER BY id`;
        const d = deriveSession(rows.map(factOf));
        await tx`UPDATE siprec_sessions SET state = ${d.state}, started_at = ${d.startedAt}, stopped_at = ${d.stoppedAt}, error_code = ${d.errorCode},
          error_message = ${d.errorMessage}, updated_at = ${cb.receivedAt} WHERE id = ${session.id}`;
      }
    });
  };
}

function openClient(spec: WorkerSpec): { tx: Tx; close: () => Promise<void> } {
  if (spec.client === 'postgres') {
    const sql = postgres(spec.url, { max: spec.pool, onnotice: () => undefined });
    return { tx: postgresTransaction(sql), close: () => sql.end({ timeout: 5 }) };
  }
  const pool = new pg.Pool({ connectionString: spec.url, max: spec.pool, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  return { tx: pgTransaction(pool, spec.client === 'pg-named'), close: () => pool.end() };
}

/** `concurrency` loops, each one transaction at a time, until the deadline or the session range ends. */
async function drive(tx: Tx, concurrency: number, from: { next: number; end: number }, seconds: number, latencies: number[] | null) {
  const deadline = performance.now() + seconds * 1000;
  let committed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const loop = async () => {
    while (performance.now() < deadline && from.next < from.end) {
      const cb = callbackFor(from.next++);
      const t0 = performance.now();
      try {
        await tx(cb);
        committed++;
        latencies?.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { committed, errors, firstError };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as WorkerSpec;
  const { tx, close } = openClient(spec);
  const range = { next: spec.first, end: spec.first + spec.budget };
  // Warm-up (the pool's connections, prepared statements, the JIT), bounded to a tenth of the range.
  const warm = { next: range.next, end: range.next + Math.floor(spec.budget / 10) };
  const warmup = await drive(tx, spec.concurrency, warm, spec.warmupSeconds, null);
  range.next = warm.next;

  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const pg0 = clusterCpuMicros(spec.postmaster);
  const machine0 = machineBusyMicros();
  const t0 = performance.now();
  const run = await drive(tx, spec.concurrency, range, spec.seconds, latencies);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const clientCpuMicros = cpu.user + cpu.system;
  const pgCpuMicros = clusterCpuMicros(spec.postmaster) - pg0;
  const otherCpuMicros = Math.max(0, machineBusyMicros() - machine0 - clientCpuMicros - pgCpuMicros);
  await close();
  const result: WorkerResult = {
    client: spec.client,
    concurrency: spec.concurrency,
    ...run,
    warmCommitted: warmup.committed,
    errors: run.errors + warmup.errors,
    firstError: run.firstError ?? warmup.firstError,
    seconds,
    latencies: latencies.map((x) => Math.round(x * 1000) / 1000),
    clientCpuMicros,
    pgCpuMicros,
    otherCpuMicros,
    hitCountBound: range.next >= range.end,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`pg-client-worker: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
