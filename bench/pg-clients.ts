/**
 * npm run bench -- --clients: node-postgres (pg) against postgres.js (postgres) on the status
 * callback's write transaction, on a throwaway cluster with fsync and synchronous_commit on, at
 * several concurrencies over one pool; then what each does with a multi-host URL and a failover
 * (bench/pg-failover-probe.ts). Results: bench/results/pg-clients.{json,md}.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { z } from 'zod';
import { startPgCluster, type PgCluster } from '../src/dev/pg-cluster';
import { analyzeProfile, formatProfile, type ProfileSummary } from './cpuprofile';
import { CLIENT_KINDS, type ClientKind, type WorkerResult, type WorkerSpec } from './pg-client-worker';
import { onAbort } from './cleanup';
import { CLIENTS_SCHEMA, SEED_SESSIONS } from './pg-clients-schema';
import { probeFailover, type ProbeResult } from './pg-failover-probe';
import { machineInfo, postmasterPid, waitForQuiet, type MachineInfo } from './proc';

const RESULTS_DIR = path.resolve(__dirname, '..', '..', 'bench', 'results');
const WORKER = path.join(__dirname, 'pg-client-worker.js');

const envSchema = z.object({
  BENCH_CLIENTS_SECONDS: z.coerce.number().min(1).max(120).default(5),
  BENCH_CLIENTS_WARMUP_SECONDS: z.coerce.number().min(0).max(30).default(1),
  BENCH_CLIENTS_ROUNDS: z.coerce.number().int().min(1).max(10).default(2),
  BENCH_CLIENTS_CONCURRENCY: z
    .string()
    .default('1,16,64')
    .transform((s) => s.split(',').map(Number))
    .pipe(z.array(z.number().int().min(1).max(512)).min(1)),
  BENCH_CLIENTS_POOL: z.coerce.number().int().min(1).max(100).default(10),
  /** The most transactions one run may make (its count bound; the time bound is BENCH_CLIENTS_SECONDS). */
  BENCH_CLIENTS_MAX_TX: z.coerce.number().int().min(100).max(200_000).default(20_000),
  BENCH_CLIENTS_FAILOVER: z.enum(['0', '1']).default('1'),
  /** After the measured runs, one run per client at 16 in flight under --cpu-prof (0: none). */
  BENCH_CLIENTS_PROFILE_SECONDS: z.coerce.number().min(0).max(60).default(4),
  /** The longest wait, before each run, for the rest of the machine to use under 25 % of a core. */
  BENCH_CLIENTS_QUIET_SECONDS: z.coerce.number().min(0).max(600).default(20),
});
export type ClientBenchOptions = z.infer<typeof envSchema>;

export interface ClientCell {
  client: ClientKind;
  concurrency: number;
  /** Committed (acknowledged) transactions per second, mean of the rounds. */
  tps: number;
  roundsTps: number[];
  committed: number;
  p50: number;
  p95: number;
  p99: number;
  clientCpuUsPerTx: number;
  pgCpuUsPerTx: number;
  /** Client + PostgreSQL CPU per transaction: 1e6 / this is what one core could commit. */
  totalCpuUsPerTx: number;
  clientCpuPct: number;
  pgCpuPct: number;
  otherCpuPct: number;
  errors: number;
  firstError?: string;
  hitCountBound: boolean;
}

export interface ClientBenchReport {
  machine: MachineInfo;
  options: ClientBenchOptions;
  postgresVersion: string;
  cells: ClientCell[];
  /** Every committed transaction (warm-ups included) found in the database afterwards. */
  verified: { acknowledged: number; stored: number };
  failover?: ProbeResult[];
  /** Where each client's CPU goes (one profiled run per client; the profiler's own cost included). */
  profiles?: Array<{ client: ClientKind; clientCpuUsPerTx: number; summary: ProfileSummary }>;
  totalSeconds: number;
}

type Log = (line: string) => void;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function runWorker(spec: WorkerSpec, nodeArgs: string[] = []): Promise<WorkerResult> {
  const timeout = (spec.seconds + spec.warmupSeconds + 60) * 1000;
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [...nodeArgs, WORKER, JSON.stringify(spec)], { timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      forget();
      if (err) return reject(new Error(`${spec.client} c=${spec.concurrency}: ${err.message}\n${stderr.slice(-2000)}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as WorkerResult);
    });
    const forget = onAbort(() => child.kill('SIGKILL'));
  });
}

function summarize(client: ClientKind, concurrency: number, runs: WorkerResult[]): ClientCell {
  const sum = (f: (r: WorkerResult) => number) => runs.reduce((a, r) => a + f(r), 0);
  const committed = sum((r) => r.committed);
  const wall = sum((r) => r.seconds);
  const all = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const roundsTps = runs.map((r) => r.committed / r.seconds);
  const clientCpuUsPerTx = sum((r) => r.clientCpuMicros) / committed;
  const pgCpuUsPerTx = sum((r) => r.pgCpuMicros) / committed;
  const firstError = runs.find((r) => r.firstError)?.firstError;
  return {
    client,
    concurrency,
    tps: roundsTps.reduce((a, b) => a + b, 0) / roundsTps.length,
    roundsTps,
    committed,
    p50: percentile(all, 50),
    p95: percentile(all, 95),
    p99: percentile(all, 99),
    clientCpuUsPerTx,
    pgCpuUsPerTx,
    totalCpuUsPerTx: clientCpuUsPerTx + pgCpuUsPerTx,
    clientCpuPct: (sum((r) => r.clientCpuMicros) / 1e6 / wall) * 100,
    pgCpuPct: (sum((r) => r.pgCpuMicros) / 1e6 / wall) * 100,
    otherCpuPct: (sum((r) => r.otherCpuMicros) / 1e6 / wall) * 100,
    errors: sum((r) => r.errors),
    ...(firstError ? { firstError } : {}),
    hitCountBound: runs.some((r) => r.hitCountBound),
  };
}

async function prepareDatabase(cluster: PgCluster, sessions: number, log: Log): Promise<string> {
  cluster.createDatabase('clients');
  const url = cluster.url('clients');
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    await sql.unsafe(CLIENTS_SCHEMA);
    const t0 = Date.now();
    for (const statement of SEED_SESSIONS) await sql.unsafe(statement, [sessions, Date.now() - 3_600_000]);
    await sql.unsafe('VACUUM ANALYZE');
    await sql.unsafe('CHECKPOINT');
    log(`seeded ${sessions.toLocaleString('en')} started sessions in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  return url;
}

export async function runClientBench(log: Log): Promise<ClientBenchReport> {
  const started = Date.now();
  const parsed = envSchema.safeParse(process.env);
  if (!parsed.success) throw new Error(`invalid BENCH_CLIENTS_* settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const opts = parsed.data;
  const runs = opts.BENCH_CLIENTS_ROUNDS * opts.BENCH_CLIENTS_CONCURRENCY.length * CLIENT_KINDS.length;
  const cluster = await startPgCluster({ settings: { fsync: 'on', synchronous_commit: 'on' } });
  const forget = onAbort(() => cluster.destroy());
  try {
    const postgresVersion = cluster.psql('SHOW server_version');
    log(`PostgreSQL ${postgresVersion} on 127.0.0.1:${cluster.port} (fsync on, synchronous_commit on); ${runs} runs`);
    const profiled = opts.BENCH_CLIENTS_PROFILE_SECONDS > 0 ? CLIENT_KINDS.length : 0;
    const url = await prepareDatabase(cluster, (runs + profiled) * opts.BENCH_CLIENTS_MAX_TX, log);
    const postmaster = postmasterPid(cluster.dataDir);
    const results = new Map<string, WorkerResult[]>();
    let acknowledged = 0;
    let first = 0;
    // Rounds outermost and the clients alternating inside, so that drift (the table growing, the
    // checkpointer, another tenant) falls on every client alike.
    for (let round = 1; round <= opts.BENCH_CLIENTS_ROUNDS; round++) {
      for (const concurrency of opts.BENCH_CLIENTS_CONCURRENCY) {
        const order = round % 2 ? CLIENT_KINDS : [...CLIENT_KINDS].reverse();
        for (const client of order) {
          if (opts.BENCH_CLIENTS_QUIET_SECONDS > 0) {
            const q = await waitForQuiet(opts.BENCH_CLIENTS_QUIET_SECONDS);
            if (q.waitedSeconds > 1.5) log(`waited ${q.waitedSeconds.toFixed(0)} s for other tenants (last second: ${q.otherPct.toFixed(0)} % of a core)`);
          }
          const r = await runWorker({
            client, url, concurrency, postmaster, first, budget: opts.BENCH_CLIENTS_MAX_TX,
            pool: opts.BENCH_CLIENTS_POOL, warmupSeconds: opts.BENCH_CLIENTS_WARMUP_SECONDS, seconds: opts.BENCH_CLIENTS_SECONDS,
          });
          first += opts.BENCH_CLIENTS_MAX_TX;
          acknowledged += r.committed + r.warmCommitted;
          const key = `${client}\u0000${concurrency}`;
          results.set(key, [...(results.get(key) ?? []), r]);
          const one = summarize(client, concurrency, [r]);
          log(
            `round ${round} ${client.padEnd(9)} c=${String(concurrency).padEnd(3)} ${one.tps.toFixed(0).padStart(6)} tx/s  p50 ${one.p50.toFixed(1)} p99 ${one.p99.toFixed(1)} ms  ` +
              `client ${one.clientCpuUsPerTx.toFixed(0)} µs/tx  postgres ${one.pgCpuUsPerTx.toFixed(0)} µs/tx  other ${one.otherCpuPct.toFixed(0)} %` +
              (r.errors ? `  ${r.errors} errors: ${r.firstError}` : ''),
          );
        }
      }
    }
    const profiles: NonNullable<ClientBenchReport['profiles']> = [];
    for (const client of opts.BENCH_CLIENTS_PROFILE_SECONDS > 0 ? CLIENT_KINDS : []) {
      const file = path.join(RESULTS_DIR, `pg-client-${client}.cpuprofile`);
      rmSync(file, { force: true });
      mkdirSync(RESULTS_DIR, { recursive: true });
      const r = await runWorker(
        { client, url, concurrency: 16, postmaster, first, budget: opts.BENCH_CLIENTS_MAX_TX, pool: opts.BENCH_CLIENTS_POOL, warmupSeconds: 1, seconds: opts.BENCH_CLIENTS_PROFILE_SECONDS },
        ['--cpu-prof', '--cpu-prof-dir', RESULTS_DIR, '--cpu-prof-name', path.basename(file)],
      );
      first += opts.BENCH_CLIENTS_MAX_TX;
      acknowledged += r.committed + r.warmCommitted;
      const summary = analyzeProfile(file, path.resolve(__dirname, '..', '..'), 8);
      profiles.push({ client, clientCpuUsPerTx: r.clientCpuMicros / r.committed, summary });
      log(`[profile] ${client} c=16: ${(r.clientCpuMicros / r.committed).toFixed(0)} µs/tx under the profiler\n${formatProfile(summary)}`);
    }
    const stored = Number(cluster.psql("SELECT count(*) FROM siprec_events WHERE event = 'siprec-stopped'", 'clients'));
    const cells = CLIENT_KINDS.flatMap((client) => opts.BENCH_CLIENTS_CONCURRENCY.map((c) => summarize(client, c, results.get(`${client}\u0000${c}`)!)));
    const failover = opts.BENCH_CLIENTS_FAILOVER === '1' ? await probeFailover(log) : undefined;
    return { machine: machineInfo(), options: opts, postgresVersion, cells, verified: { acknowledged, stored }, failover, profiles, totalSeconds: (Date.now() - started) / 1000 };
  } finally {
    cluster.destroy();
    forget();
  }
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en') : '–');

export function clientsMarkdown(r: ClientBenchReport): string {
  const m = r.machine;
  const o = r.options;
  const out = [
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.os}, Node ${m.node}; PostgreSQL ${r.postgresVersion}; ${m.date} (${f1(r.totalSeconds / 60)} min).`,
    `The siprec-stopped status callback's transaction (BEGIN; upsert the call ON CONFLICT DO UPDATE; the session FOR UPDATE; insert the event ON CONFLICT DO NOTHING; ` +
      `the session's events; update the derived state; COMMIT) on a throwaway cluster (fsync on, synchronous_commit on, 127.0.0.1), pool of ${o.BENCH_CLIENTS_POOL}, ` +
      `${o.BENCH_CLIENTS_ROUNDS} rounds × ${o.BENCH_CLIENTS_SECONDS} s (at most ${int(o.BENCH_CLIENTS_MAX_TX)} transactions) per cell, each run in a fresh process after ${o.BENCH_CLIENTS_WARMUP_SECONDS} s of warm-up. ` +
      '`pg` sends unnamed statements (parse every time), `pg-named` names them (prepared once per connection), `postgres` is postgres.js with its default prepare: true. ' +
      'Latency: from asking the pool for a connection to COMMIT acknowledged (so it includes waiting for the pool). Client CPU: process.cpuUsage of the client process; ' +
      'PostgreSQL CPU: utime+stime of the postmaster, its children and its reaped children (/proc).',
    '',
    '| client | in flight | tx/s | p50 ms | p95 ms | p99 ms | client CPU µs/tx | PostgreSQL CPU µs/tx | total µs/tx | client CPU % | PostgreSQL CPU % | other CPU % | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of r.cells) {
    out.push(
      `| ${c.client} | ${c.concurrency} | ${int(c.tps)} | ${f1(c.p50)} | ${f1(c.p95)} | ${f1(c.p99)} | ${int(c.clientCpuUsPerTx)} | ${int(c.pgCpuUsPerTx)} | ${int(c.totalCpuUsPerTx)} | ` +
        `${int(c.clientCpuPct)} | ${int(c.pgCpuPct)} | ${int(c.otherCpuPct)} | ${c.errors} |`,
    );
  }
  const disturbed = r.cells.filter((c) => c.otherCpuPct > 10);
  if (disturbed.length) out.push('', `**Warning**: other processes used more than 10 % of a core in ${disturbed.length} of the cells above ("other CPU %"): trust the ratios between clients (alternating runs) more than the absolute figures.`);
  const bound = r.cells.filter((c) => c.hitCountBound);
  if (bound.length) out.push('', `Runs that stopped on the count bound before the time bound: ${bound.map((c) => `${c.client} c=${c.concurrency}`).join(', ')}.`);
  out.push('', `Every acknowledged transaction stored: ${r.verified.acknowledged === r.verified.stored ? 'yes' : 'NO'} (${int(r.verified.acknowledged)} committed, ${int(r.verified.stored)} siprec-stopped events in the database).`);
  if (r.failover) {
    out.push('', '**Failover support** (a primary and a streaming standby from src/dev/pg-cluster.ts, both on 127.0.0.1)', '', '| client | case | outcome |', '| --- | --- | --- |');
    for (const p of r.failover) out.push(`| ${p.client} | ${p.case} | ${p.outcome.replace(/\|/g, '\\|')} |`);
  }
  for (const p of r.profiles ?? []) {
    const s = p.summary;
    out.push('', `**Profile of ${p.client}** at 16 in flight (${int(p.clientCpuUsPerTx)} µs client CPU per transaction under the profiler; ${f1(s.idlePct)} % idle, GC ${f1(s.gcPct)} % of busy): ` +
      `by package ${s.byPackage.slice(0, 6).map((x) => `${x.pkg} ${f1(x.pct)} %`).join(', ')}; top self time ${s.topSelf.slice(0, 6).map((x) => `${x.name} (${x.location}) ${f1(x.pct)} %`).join(', ')}.`);
  }
  return `${out.join('\n')}\n`;
}

export async function clientBenchMain(log: Log): Promise<void> {
  const report = await runClientBench(log);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const md = clientsMarkdown(report);
  writeFileSync(path.join(RESULTS_DIR, 'pg-clients.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(RESULTS_DIR, 'pg-clients.md'), md);
  process.stdout.write(`\n${md}\nwrote bench/results/pg-clients.json and bench/results/pg-clients.md\n`);
  if (report.verified.acknowledged !== report.verified.stored || report.cells.some((c) => c.errors > 0)) process.exitCode = 1;
}
