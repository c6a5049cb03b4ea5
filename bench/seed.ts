import { createHash } from 'node:crypto';
import { constants, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deriveSession, type EventFact } from '../src/domain/sessions';
import { openDatabase, readMigrations } from '../src/store/sqlite/open';
import { TEST_ACCOUNT_SID } from '../test/helpers/env';
import { ROOT } from './servers';

/**
 * The operator API's database: calls with two SIPREC sessions each, every session with the same
 * number of events, spread over the 30 days before seeding. Written straight through better-sqlite3
 * on a database the real migrations created, in big transactions, and cached under the OS temp dir
 * keyed by the migrations' content: a second run reuses it, a schema change seeds anew.
 */

// Bump when what is seeded changes, so that an old cache is not mistaken for the new shape.
const SEED_VERSION = 1;
const SPAN_MS = 30 * 86_400_000;
const CALLS_PER_TRANSACTION = 10_000;
const MIGRATIONS_DIR = path.join(ROOT, 'migrations', 'sqlite');

export interface SeedSpec {
  sessions: number;
  eventsPerSession: number;
  /** Seed anew even when a cached seed exists. */
  reseed?: boolean;
}

export interface SeededDatabase {
  file: string;
  reused: boolean;
  /** Time spent seeding (0 when reused). */
  seedSeconds: number;
  sessions: number;
  events: number;
  calls: number;
  /**
   * Hours since seeding. Times are not moved forward on reuse (triggers keep derived counters that an
   * UPDATE would not), so the older the seed, the emptier /api/stats' "last hour/day" windows.
   */
  ageHours: number;
}

export const seededCallSid = (i: number) => `CA${i.toString(16).padStart(32, '0')}`;
export const seededSiprecSid = (k: number) => `SR${k.toString(16).padStart(32, '0')}`;

// Most sessions start and stop; some fail; a few stop after an error; some are still live. Twilio
// retries a callback with a fresh Timestamp now and then, which the ledger keeps as another event.
const PATTERNS = {
  stopped: ['siprec-started', 'siprec-stopped', 'siprec-started', 'siprec-stopped'],
  failed: ['siprec-started', 'siprec-error', 'siprec-error', 'siprec-started'],
  erroredThenStopped: ['siprec-started', 'siprec-error', 'siprec-stopped', 'siprec-stopped'],
  active: ['siprec-started', 'siprec-started', 'siprec-started', 'siprec-started'],
};
function patternOf(k: number): string[] {
  const r = k % 100;
  return r < 85 ? PATTERNS.stopped : r < 95 ? PATTERNS.failed : r < 98 ? PATTERNS.erroredThenStopped : PATTERNS.active;
}

function cacheKey(spec: SeedSpec): string {
  const h = createHash('sha256').update(`seed v${SEED_VERSION} ${spec.sessions} ${spec.eventsPerSession}\n`);
  for (const m of readMigrations(MIGRATIONS_DIR)) h.update(`${m.name}\n${m.sql}\n`);
  return h.digest('hex').slice(0, 16);
}

const CONNECTORS = [
  { name: 'gridspace', connector: 'Gridspace_1', track: 'both_tracks', parameters: '[{"name":"Caller","value":"+14155550100"},{"name":"Team","value":"sales"}]' },
  { name: 'compliance', connector: 'Compliance_SRS', track: 'both_tracks', parameters: '[]' },
];

export interface SeededSession {
  id: number;
  siprecSid: string;
  connector: (typeof CONNECTORS)[number];
  derived: ReturnType<typeof deriveSession>;
  events: Array<EventFact & { payload: string }>;
}
export interface SeededCall {
  callSid: string;
  caller: string;
  at: number;
  sessions: SeededSession[];
}

/** The i-th seeded call, its sessions and their events: the same rows for every backend. */
export function seededCall(i: number, spec: SeedSpec, endAt: number): SeededCall {
  const calls = Math.ceil(spec.sessions / 2);
  const startAt = endAt - SPAN_MS;
  const callSid = seededCallSid(i);
  const at = Math.floor(startAt + (i * SPAN_MS) / calls);
  const caller = `+1415555${String(i % 10_000).padStart(4, '0')}`;
  const sessions: SeededSession[] = [];
  for (let j = 0; j < 2; j++) {
    const k = i * 2 + j;
    if (k >= spec.sessions) break;
    const c = CONNECTORS[j]!;
    const sid = seededSiprecSid(k);
    const kinds = patternOf(k);
    const facts: EventFact[] = [];
    for (let e = 0; e < spec.eventsPerSession; e++) {
      const event = kinds[e % kinds.length]!;
      const occurredAt = at + 1000 + e * 60_000;
      const isError = event === 'siprec-error';
      facts.push({
        event,
        timestampRaw: new Date(occurredAt).toISOString(),
        occurredAt,
        receivedAt: occurredAt + 150,
        errorCode: isError ? '64101' : null,
        errorMessage: isError ? 'SIPREC connection to the recording server failed' : null,
      });
    }
    const events = facts.map((f) => ({
      ...f,
      payload: JSON.stringify({
        AccountSid: TEST_ACCOUNT_SID, ApiVersion: '2010-04-01', CallSid: callSid, CallStatus: 'in-progress', Called: '+15550001111',
        Caller: caller, Direction: 'inbound', From: caller, FromCountry: 'US', To: '+15550001111', ToCountry: 'US',
        SiprecSid: sid, SiprecName: c.name, SiprecEvent: f.event, Timestamp: f.timestampRaw,
        ...(f.errorCode ? { SiprecErrorCode: f.errorCode, SiprecError: f.errorMessage } : {}),
      }),
    }));
    sessions.push({ id: k + 1, siprecSid: sid, connector: c, derived: deriveSession(facts), events });
  }
  return { callSid, caller, at, sessions };
}

function seed(file: string, spec: SeedSpec, endAt: number): void {
  const db = openDatabase(file, { migrationsDir: MIGRATIONS_DIR });
  // Durability is pointless while seeding a throwaway file; the result is checkpointed at the end.
  db.pragma('synchronous = OFF');
  const insertCall = db.prepare('INSERT INTO calls (call_sid, account_sid, from_number, to_number, direction, created_at) VALUES (?, ?, ?, ?, ?, ?)');
  const insertSession = db.prepare(`INSERT INTO siprec_sessions (id, call_sid, name, siprec_sid, connector_name, track, parameters, state,
    requested_at, started_at, stopped_at, error_code, error_message, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertEvent = db.prepare(`INSERT INTO siprec_events (session_id, siprec_sid, event, timestamp_raw, occurred_at, received_at,
    error_code, error_message, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const calls = Math.ceil(spec.sessions / 2);

  const writeCalls = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const { callSid, caller, at, sessions } = seededCall(i, spec, endAt);
      insertCall.run(callSid, TEST_ACCOUNT_SID, caller, '+15550001111', 'inbound', at);
      for (const { id, siprecSid, connector: c, derived: d, events } of sessions) {
        insertSession.run(id, callSid, c.name, siprecSid, c.connector, c.track, c.parameters, d.state, at, d.startedAt, d.stoppedAt, d.errorCode, d.errorMessage, at, at);
        for (const f of events) {
          insertEvent.run(id, siprecSid, f.event, f.timestampRaw, f.occurredAt, f.receivedAt, f.errorCode, f.errorMessage, f.payload);
        }
      }
    }
  });
  for (let from = 0; from < calls; from += CALLS_PER_TRANSACTION) writeCalls(from, Math.min(calls, from + CALLS_PER_TRANSACTION));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/**
 * A private copy of the seeded database for one run, seeding (or reusing) the cache first. The
 * seed goes through plain INSERTs so that every trigger the migrations define keeps its counters.
 */
export function seededDatabase(spec: SeedSpec, copyTo: string, log: (line: string) => void): SeededDatabase {
  const dir = path.join(os.tmpdir(), 'siprec-control-bench');
  mkdirSync(dir, { recursive: true });
  const key = cacheKey(spec);
  const file = path.join(dir, `seed-${key}.sqlite`);
  const metaFile = path.join(dir, `seed-${key}.json`);
  const calls = Math.ceil(spec.sessions / 2);
  const counts = { sessions: spec.sessions, events: spec.sessions * spec.eventsPerSession, calls };

  // The metadata is written last: a seed interrupted halfway is never reused.
  const reused = !spec.reseed && existsSync(file) && existsSync(metaFile);
  let seedSeconds = 0;
  let seededAt: number;
  if (reused) {
    seededAt = (JSON.parse(readFileSync(metaFile, 'utf8')) as { seededAt: number }).seededAt;
    log(`reusing the seeded database ${file} (seeded ${new Date(seededAt).toISOString()}; BENCH_RESEED=1 seeds anew)`);
  } else {
    log(`seeding ${counts.events.toLocaleString('en')} events over ${counts.sessions.toLocaleString('en')} sessions into ${file} …`);
    const t0 = Date.now();
    // Seeds for other migrations are of no further use, and each takes close to a gigabyte.
    for (const f of readdirSync(dir)) if (f.startsWith('seed-')) rmSync(path.join(dir, f), { force: true });
    const partial = `${file}.partial`;
    seededAt = Date.now();
    seed(partial, spec, seededAt);
    renameSync(partial, file);
    writeFileSync(metaFile, JSON.stringify({ seededAt, ...counts }));
    seedSeconds = (Date.now() - t0) / 1000;
    log(`seeded in ${seedSeconds.toFixed(1)} s`);
  }
  // The server gets a private copy: whatever it does to its file, the cache stays as seeded.
  copyFileSync(file, copyTo, constants.COPYFILE_FICLONE);
  return { file, reused, seedSeconds, ...counts, ageHours: Math.round(((Date.now() - seededAt) / 3_600_000) * 10) / 10 };
}
