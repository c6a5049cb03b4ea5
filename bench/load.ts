import autocannon from 'autocannon';
import { clusterCpuMicros, machineBusyMicros, processCpuMicros } from './proc';

export interface LoadSpec {
  url: string;
  /** Several instances: the connections and the rate are split evenly across these URLs. */
  urls?: string[];
  /** A factory when there are several URLs: autocannon keeps per-run state in the request objects. */
  requests: autocannon.Request[] | (() => autocannon.Request[]);
  connections: number;
  seconds: number;
  /** autocannon's overallRate (-R); unset means as fast as the server answers. */
  overallRate?: number;
  /** The server's pid, for its CPU time over the run. */
  serverPid: number;
  /** Every server process, when there are several (their CPU is summed). */
  serverPids?: number[];
  /** The PostgreSQL cluster behind the server: its CPU over the run, every backend included. */
  postmaster?: number;
}

/** One autocannon run, measured from both sides. */
export interface RunSample {
  seconds: number;
  responses: number;
  /** Per response, in milliseconds, as autocannon timed it (request written → response parsed). */
  latencies: Float64Array;
  statusCounts: Record<string, number>;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  serverCpuMicros: number;
  /** The PostgreSQL cluster's CPU over the run (0 for SQLite and the baseline). */
  dbCpuMicros: number;
  clientCpuMicros: number;
  /** CPU used by every other process on the machine meanwhile (other engineers' tests, browsers…). */
  otherCpuMicros: number;
}

/**
 * Runs autocannon against 127.0.0.1. Latencies are collected from every 'response' event rather
 * than autocannon's histogram: under -R autocannon "corrects" the histogram with an expected
 * interval of ceil(1/rate) = 1 ms, which adds synthetic samples, and its histogram has no p95.
 */
export async function runLoad(spec: LoadSpec): Promise<RunSample> {
  const urls = spec.urls ?? [spec.url];
  for (const url of urls) if (!url.startsWith('http://127.0.0.1:')) throw new Error(`refusing to load anything but 127.0.0.1: ${url}`);
  const pids = spec.serverPids ?? [spec.serverPid];
  const serverCpu = () => pids.reduce((sum, pid) => sum + processCpuMicros(pid), 0);
  const dbCpu = () => (spec.postmaster ? clusterCpuMicros(spec.postmaster) : 0);
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  const statusCounts: Record<string, number> = {};
  const cpu0 = serverCpu();
  const db0 = dbCpu();
  const machine0 = machineBusyMicros();
  const client0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();

  const onResponse = (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (n === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2);
      bigger.set(latencies);
      latencies = bigger;
    }
    latencies[n++] = responseTime;
    statusCounts[statusCode] = (statusCounts[statusCode] ?? 0) + 1;
  };
  // Instance i of k gets an even share of the connections and of the rate (the first ones the remainder).
  const share = (total: number, i: number) => Math.floor(total / urls.length) + (i < total % urls.length ? 1 : 0);
  const requestsFor = () => (typeof spec.requests === 'function' ? spec.requests() : spec.requests);
  if (urls.length > 1 && typeof spec.requests !== 'function') throw new Error('several URLs need a requests factory');
  const results = await Promise.all(
    urls.map(
      (url, i) =>
        new Promise<autocannon.Result>((resolve, reject) => {
          const rate = spec.overallRate ? share(spec.overallRate, i) : 0;
          const options: autocannon.Options = {
            url,
            connections: Math.max(1, share(spec.connections, i)),
            duration: spec.seconds,
            requests: requestsFor(),
            timeout: 10,
            ...(rate ? { overallRate: rate } : {}),
          };
          const instance = autocannon(options, (err: unknown, res: autocannon.Result) => (err ? reject(err instanceof Error ? err : new Error(JSON.stringify(err))) : resolve(res)));
          instance.on('response', onResponse);
        }),
    ),
  );

  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const client = process.cpuUsage(client0);
  const serverCpuMicros = serverCpu() - cpu0;
  const dbCpuMicros = dbCpu() - db0;
  const clientCpuMicros = client.user + client.system;
  const non2xx = Object.entries(statusCounts).reduce((sum, [code, count]) => (code.startsWith('2') ? sum : sum + count), 0);
  return {
    seconds,
    responses: n,
    latencies: latencies.slice(0, n),
    statusCounts,
    non2xx,
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    serverCpuMicros,
    dbCpuMicros,
    clientCpuMicros,
    otherCpuMicros: Math.max(0, machineBusyMicros() - machine0 - serverCpuMicros - dbCpuMicros - clientCpuMicros),
  };
}

export interface Summary {
  /** 2xx responses per second, mean of the rounds. */
  rps: number;
  roundsRps: number[];
  responses: number;
  p50: number;
  p95: number;
  p99: number;
  p999: number;
  non2xx: number;
  errors: number;
  statusCounts: Record<string, number>;
  /** Server CPU per response, µs. */
  serverCpuUs: number;
  /** Server CPU over wall time, % of one core: under 100 % at saturation means it waited (fsync). */
  serverCpuPct: number;
  /** PostgreSQL's CPU per response, µs (0 without PostgreSQL). */
  dbCpuUs: number;
  dbCpuPct: number;
  /** Server + PostgreSQL CPU per 2xx (acknowledged) response: 1e6 / this is what one core serves per second. */
  totalCpuUs: number;
  /** This process's CPU over wall time, % of one core: near 100 % means the client was the limit. */
  clientCpuPct: number;
  /** Everything else on the machine, % of one core: above ~10 % the run was disturbed. */
  otherCpuPct: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Merges the rounds of one server × target × mode: percentiles over every response of every round. */
export function summarize(samples: RunSample[]): Summary {
  const total = samples.reduce((s, x) => s + x.responses, 0);
  const all = new Float64Array(total);
  let at = 0;
  for (const s of samples) {
    all.set(s.latencies, at);
    at += s.latencies.length;
  }
  all.sort();
  const sum = (f: (s: RunSample) => number) => samples.reduce((acc, s) => acc + f(s), 0);
  const wall = sum((s) => s.seconds);
  const statusCounts: Record<string, number> = {};
  for (const s of samples) for (const [k, v] of Object.entries(s.statusCounts)) statusCounts[k] = (statusCounts[k] ?? 0) + v;
  // Only 2xx count as served: a server failing fast must not look fast.
  const roundsRps = samples.map((s) => (s.responses - s.non2xx) / s.seconds);
  return {
    rps: roundsRps.reduce((a, b) => a + b, 0) / roundsRps.length,
    roundsRps,
    responses: total,
    p50: percentile(all, 50),
    p95: percentile(all, 95),
    p99: percentile(all, 99),
    p999: percentile(all, 99.9),
    non2xx: sum((s) => s.non2xx),
    errors: sum((s) => s.errors),
    statusCounts,
    serverCpuUs: total ? sum((s) => s.serverCpuMicros) / total : NaN,
    serverCpuPct: (sum((s) => s.serverCpuMicros) / 1e6 / wall) * 100,
    dbCpuUs: total ? sum((s) => s.dbCpuMicros) / total : NaN,
    dbCpuPct: (sum((s) => s.dbCpuMicros) / 1e6 / wall) * 100,
    totalCpuUs: total > sum((s) => s.non2xx) ? sum((s) => s.serverCpuMicros + s.dbCpuMicros) / (total - sum((s) => s.non2xx)) : NaN,
    clientCpuPct: (sum((s) => s.clientCpuMicros) / 1e6 / wall) * 100,
    otherCpuPct: (sum((s) => s.otherCpuMicros) / 1e6 / wall) * 100,
  };
}
