import type autocannon from 'autocannon';
import { runLoad, summarize, type RunSample, type Summary } from './load';
import type { BenchOptions, ScenarioId } from './options';
import { peakRssMb, rssMb, waitForQuiet } from './proc';
import type { ServerHandle, ServerKind } from './servers';

/** One kind of request a server is driven with, e.g. "GET /api/stats". */
export interface Target {
  name: string;
  /** Called per run: autocannon keeps per-run state in the request objects. */
  requests: () => autocannon.Request[];
}

export interface ScenarioPlan {
  id: ScenarioId;
  title: string;
  baseline: Target;
  siprec: Target[];
  /**
   * Also measure with one connection at a light rate: the latency of a request on its own, with no
   * queue in front of it (what an operator's page sees), besides the latency under load.
   */
  singleClient?: boolean;
}

export const SINGLE_CLIENT_RATE = 50;

export interface TargetResult {
  server: ServerKind;
  target: string;
  saturated: Summary;
  fixedRate: Summary;
  singleClient?: Summary;
}

export interface ScenarioResult {
  id: ScenarioId;
  title: string;
  results: TargetResult[];
  /** RSS right after start-up: the code's fixed cost, before any load (several instances: the largest). */
  startRssMb: Partial<Record<ServerKind, number>> & Record<'baseline' | 'siprec-control', number>;
  peakRssMb: Partial<Record<ServerKind, number>> & Record<'baseline' | 'siprec-control', number>;
}

type Log = (line: string) => void;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f1 = (x: number) => x.toFixed(1);

/**
 * Drives every server of one scenario: warm-up (discarded), then rounds at saturation and rounds at
 * the fixed rate, each round baseline first then each siprec-control (A B A B, or A B C D A B C D), so that drift of the
 * machine (thermal, page cache, another tenant) falls on both alike.
 */
export async function runScenario(plan: ScenarioPlan, subjects: ServerHandle[], opts: BenchOptions, log: Log): Promise<ScenarioResult> {
  const servers = Object.fromEntries(subjects.map((s) => [s.kind, s])) as Partial<Record<ServerKind, ServerHandle>>;
  const order: Array<[ServerKind, Target[]]> = subjects.map((s) => [s.kind, s.kind === 'baseline' ? [plan.baseline] : plan.siprec]);
  // The operator API has three queries: each gets half the time, or the run would outgrow its budget.
  const share = (s: number) => (plan.siprec.length > 1 ? Math.max(2, s / 2) : s);
  type Mode = 'saturated' | 'fixedRate' | 'singleClient';
  const modes: Array<{ mode: Mode; label: string; seconds: number; connections: number; rate?: number }> = [
    { mode: 'saturated', label: 'saturated', seconds: share(opts.seconds), connections: opts.connections },
    { mode: 'fixedRate', label: `-R ${opts.rate}`, seconds: share(opts.rateSeconds), connections: opts.connections, rate: opts.rate },
  ];
  if (plan.singleClient) {
    modes.push({ mode: 'singleClient', label: `1 conn -R ${SINGLE_CLIENT_RATE}`, seconds: share(opts.rateSeconds), connections: 1, rate: SINGLE_CLIENT_RATE });
  }
  const samples = new Map<string, Record<Mode, RunSample[]>>();
  const bucket = (server: ServerKind, target: string) => {
    const key = `${server}\u0000${target}`;
    if (!samples.has(key)) samples.set(key, { saturated: [], fixedRate: [], singleClient: [] });
    return samples.get(key)!;
  };
  const rssOf = (f: (pid: number) => number) =>
    Object.fromEntries(subjects.map((s) => [s.kind, Math.max(...s.pids.map(f))])) as ScenarioResult['startRssMb'];
  const startRssMb = rssOf(rssMb);

  const drive = async (server: ServerKind, target: Target, seconds: number, connections = opts.connections, overallRate?: number) => {
    const handle = servers[server]!;
    const sample = await runLoad({
      url: handle.url,
      urls: handle.urls,
      requests: handle.urls.length > 1 ? target.requests : target.requests(),
      connections,
      seconds,
      overallRate,
      serverPid: handle.pid,
      serverPids: handle.pids,
      postmaster: handle.postmaster,
    });
    try {
      for (const pid of handle.pids) peakRssMb(pid);
    } catch {
      throw new Error(`${server} died during "${target.name}":\n${handle.output()}`);
    }
    await pause(250);
    return sample;
  };

  const handle = (kind: ServerKind) => servers[kind]!;
  const quiet = async (maxSeconds: number) => {
    if (opts.quietSeconds <= 0) return;
    const q = await waitForQuiet(maxSeconds);
    if (q.waitedSeconds > 1.5) log(`[${plan.id}] waited ${f1(q.waitedSeconds)} s for other tenants to quiet down (last second: ${f1(q.otherPct)} % of a core)`);
  };
  await quiet(opts.quietSeconds);
  for (const [server, targets] of order) for (const t of targets) await drive(server, t, opts.warmupSeconds);
  log(`[${plan.id}] warmed up; ${opts.rounds} rounds of each: ${modes.map((m) => m.label).join(', ')}`);

  for (const m of modes) {
    for (let round = 1; round <= opts.rounds; round++) {
      await quiet(opts.quietSeconds / 6);
      for (const [server, targets] of order) {
        for (const t of targets) {
          const s = await drive(server, t, m.seconds, m.connections, m.rate);
          bucket(server, t.name)[m.mode].push(s);
          const one = summarize([s]);
          const bad = one.non2xx + one.errors > 0 ? `  non-2xx ${one.non2xx} errors ${one.errors} ${JSON.stringify(one.statusCounts)}` : '';
          log(
            `[${plan.id}] ${m.label} round ${round} ${server.padEnd(14)} ${t.name.padEnd(24)} ` +
              `${f1(one.rps).padStart(8)} req/s  p50 ${f1(one.p50)} p99 ${f1(one.p99)} ms  server CPU ${f1(one.serverCpuPct)} %` +
              `${handle(server).postmaster ? `  postgres ${f1(one.dbCpuPct)} %  ${f1(one.totalCpuUs)} µs/ack` : ''}  client ${f1(one.clientCpuPct)} %  other ${f1(one.otherCpuPct)} %${bad}`,
          );
        }
      }
    }
  }

  const results: TargetResult[] = [];
  for (const [server, targets] of order) {
    for (const t of targets) {
      const b = bucket(server, t.name);
      results.push({
        server,
        target: t.name,
        saturated: summarize(b.saturated),
        fixedRate: summarize(b.fixedRate),
        ...(plan.singleClient ? { singleClient: summarize(b.singleClient) } : {}),
      });
    }
  }
  return {
    id: plan.id,
    title: plan.title,
    results,
    startRssMb,
    peakRssMb: rssOf(peakRssMb),
  };
}
