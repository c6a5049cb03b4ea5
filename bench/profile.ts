import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../test/helpers/env';
import { analyzeProfile, formatProfile, type ProfileSummary } from './cpuprofile';
import { statusRequests, voiceRequests } from './forms';
import { runLoad } from './load';
import type { BenchOptions } from './options';
import { ROOT, startSiprec } from './servers';

export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

const LOADS = { voice: voiceRequests, status: statusRequests };

/** Where a profiled run's CPU went, per response (profiler overhead included in node's share). */
export interface CpuSplit {
  rps: number;
  nodeUs: number;
  postgresUs: number;
  clientUs: number;
}
export const PROFILED_LOADS = ['voice', 'status'] as const;

/**
 * siprec-control under --cpu-prof, saturated with one hot-path load. Kept apart from the measured
 * runs: the profiler itself costs CPU. Only samples taken under load are analyzed.
 */
export async function profileHotPath(
  name: (typeof PROFILED_LOADS)[number],
  opts: BenchOptions,
  log: (line: string) => void,
  /** A fresh PostgreSQL database to profile the service on, instead of SQLite; and its cluster's postmaster. */
  databaseUrl?: () => string,
  postmaster?: number,
): Promise<ProfileSummary & { split?: CpuSplit }> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const requests = LOADS[name];
  const file = path.join(RESULTS_DIR, `siprec-${databaseUrl ? 'pg-' : ''}${name}.cpuprofile`);
  rmSync(file, { force: true });
  const dir = tempDir('siprec-bench-prof-');
  const server = await startSiprec({
    dir,
    databasePath: dir.file('ledger.sqlite'),
    ...(databaseUrl ? { databaseUrl: databaseUrl() } : {}),
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', RESULTS_DIR, '--cpu-prof-name', path.basename(file)],
  });
  let window: { fromUs: number; toUs: number };
  let split: CpuSplit | undefined;
  try {
    const load = (seconds: number) =>
      runLoad({ url: server.url, requests: requests(), connections: opts.connections, seconds, serverPid: server.pid, ...(postmaster ? { postmaster } : {}) });
    await load(1);
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const run = await load(opts.profileSeconds);
    window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
    if (postmaster) {
      const ok = Math.max(1, run.responses - run.non2xx);
      split = { rps: ok / run.seconds, nodeUs: run.serverCpuMicros / ok, postgresUs: run.dbCpuMicros / ok, clientUs: run.clientCpuMicros / ok };
    }
  } finally {
    // The profile is written when the process exits cleanly (SIGTERM → graceful shutdown).
    await server.stop();
    dir.remove();
  }
  if (!existsSync(file)) throw new Error(`no CPU profile was written to ${file}:\n${server.output()}`);
  const summary = analyzeProfile(file, ROOT, 15, window);
  log(`[profile] ${name}${split ? ` (PostgreSQL): ${split.rps.toFixed(0)} req/s, CPU per response: node ${split.nodeUs.toFixed(0)} µs, postgres ${split.postgresUs.toFixed(0)} µs, load generator ${split.clientUs.toFixed(0)} µs` : ''}\n${formatProfile(summary)}`);
  return { ...summary, ...(split ? { split } : {}) };
}
