import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { userInfo } from 'node:os';
import postgres from 'postgres';
import { findPgBinDir, type PgCluster } from '../../src/dev/pg-cluster';
import { eventKey } from './callback-load';
import { testEnv, type TempDir } from './env';
import { ROOT, startServerProcess, type ServerProcess } from './server-process';

/** Helpers for the system tests that run real server processes on a real PostgreSQL. */

/** The service's environment on PostgreSQL: DATABASE_URL, and no DATABASE_PATH (both set is a config error). */
export function pgServerEnv(dir: TempDir, databaseUrl: string, extra: Record<string, string> = {}, routes?: unknown): Record<string, string> {
  const env = testEnv(dir, routes, extra);
  delete env.DATABASE_PATH;
  return { ...env, DATABASE_URL: databaseUrl };
}

/**
 * Every server process a test starts, so that afterAll can SIGKILL whatever is still running, even
 * when the test failed half-way.
 */
export interface Fleet {
  readonly started: ServerProcess[];
  start(env: Record<string, string>): Promise<ServerProcess>;
  killAll(): Promise<void>;
}

export function serverFleet(): Fleet {
  const started: ServerProcess[] = [];
  const booting = new Set<Promise<ServerProcess>>();
  return {
    started,
    start: (env) => {
      const p = startServerProcess(env, 30_000);
      booting.add(p);
      return p.then(
        (s) => (booting.delete(p), started.push(s), s),
        (err: Error) => (booting.delete(p), Promise.reject(err)),
      );
    },
    killAll: async () => {
      // A process still booting is killed by its own start timeout; wait for it to settle first.
      await Promise.allSettled([...booting]);
      await Promise.all(
        started.map(async (s) => {
          if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
          await s.exited;
        }),
      );
    },
  };
}

export const alive = (s: ServerProcess) => s.child.exitCode === null && s.child.signalCode === null;

/** Requests a process answered with `status` on `route`, from its own request log. */
export function served(p: ServerProcess, route = 'siprec-status', status = 204): number {
  const re = new RegExp(`"path":"(?:/twilio)?/${route}","status":${status}\\b`, 'g');
  return (p.output().match(re) ?? []).length;
}

export interface PgLedgerCheck {
  /** Stored events by (SiprecSid, event, Timestamp), with how many rows each has. */
  counts: Map<string, number>;
  stored: number;
  sessionStates: Record<string, number>;
  calls: number;
  sessions: number;
}

/** Reads what the database holds afterwards, as an auditor would: its own connection, the real tables. */
export async function readPgLedger(url: string): Promise<PgLedgerCheck> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined, connect_timeout: 10 });
  try {
    const rows = await sql<Array<{ siprec_sid: string; event: string; timestamp_raw: string; n: number }>>`
      SELECT siprec_sid, event, timestamp_raw, count(*)::int AS n FROM siprec_events GROUP BY siprec_sid, event, timestamp_raw`;
    const [{ stored }] = await sql<[{ stored: number }]>`SELECT count(*)::int AS stored FROM siprec_events`;
    const states = await sql<Array<{ state: string; n: number }>>`SELECT state, count(*)::int AS n FROM siprec_sessions GROUP BY state`;
    const [{ calls }] = await sql<[{ calls: number }]>`SELECT count(*)::int AS calls FROM calls`;
    return {
      counts: new Map(rows.map((r) => [eventKey(r.siprec_sid, r.event, r.timestamp_raw), r.n])),
      stored,
      sessionStates: Object.fromEntries(states.map((s) => [s.state, s.n])),
      calls,
      sessions: states.reduce((sum, s) => sum + s.n, 0),
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Rows of schema_migrations, by version: how many times each was recorded. */
export async function appliedMigrations(url: string): Promise<Array<{ version: number; n: number }>> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined, connect_timeout: 10 });
  try {
    return [...(await sql<Array<{ version: number; n: number }>>`
      SELECT version::int AS version, count(*)::int AS n FROM schema_migrations GROUP BY version ORDER BY version`)];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The versions the code ships: the numbered files in migrations/postgres/. */
export function shippedPostgresMigrations(): number[] {
  return readdirSync(path.join(ROOT, 'migrations', 'postgres'))
    .map((f) => /^(\d+)_.*\.sql$/.exec(f)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * `pg_ctl restart -m <mode>` without blocking this process: PgCluster.restart uses spawnSync, which
 * would freeze the load generator (and its timings) for as long as the restart takes.
 */
export function restartClusterInBackground(cluster: PgCluster, mode: 'fast' | 'immediate'): Promise<{ ms: number }> {
  const bin = findPgBinDir();
  if (!bin) return Promise.reject(new Error('PostgreSQL is not installed'));
  const logFile = path.join(path.dirname(cluster.dataDir), 'server.log');
  const args = ['-D', cluster.dataDir, '-l', logFile, '-m', mode, '-w', '-t', '60', 'restart'];
  const pgCtl = path.join(bin, 'pg_ctl');
  const [cmd, argv] = userInfo().uid === 0 ? ['runuser', ['-u', 'postgres', '--', pgCtl, ...args]] : [pgCtl, args];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 70_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ ms: Math.round(performance.now() - started) });
      else reject(new Error(`pg_ctl restart -m ${mode} failed (${code ?? signal}): ${out}`));
    });
  });
}

/** The p-th percentile (0–100) of `values`, nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
