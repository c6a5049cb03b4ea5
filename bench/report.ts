import type { ProfileSummary } from './cpuprofile';
import type { LeakResult } from './leak';
import type { Summary } from './load';
import type { BenchOptions } from './options';
import { API_TARGETS } from './plans';
import type { MachineInfo } from './proc';
import type { PgSeedResult } from './pg-seed';
import type { CpuSplit } from './profile';
import type { PlannedCase } from './query-plans';
import { SINGLE_CLIENT_RATE, type ScenarioResult, type TargetResult } from './scenarios';
import type { SeededDatabase } from './seed';

export interface Goal {
  goal: string;
  /** null: not measured in this run (scenario skipped or not available). */
  met: boolean | null;
  measured: string;
}

export interface BenchReport {
  machine: MachineInfo;
  options: BenchOptions;
  siprecLogLevel: string;
  cpuMeasurement: string;
  latencyMeasurement: string;
  scenarios: ScenarioResult[];
  skipped: Array<{ id: string; reason: string }>;
  seed?: SeededDatabase;
  leak?: LeakResult;
  queryPlans?: PlannedCase[];
  profiles: Array<ProfileSummary & { split?: CpuSplit }>;
  /** With --store postgres: the cluster and the operator API's seeded PostgreSQL ledger. */
  postgres?: { version: string; seed?: PgSeedResult };
  goals: Goal[];
  totalSeconds: number;
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en') : '–');

const find = (s: ScenarioResult | undefined, server: string, target?: string): TargetResult | undefined =>
  s?.results.find((r) => r.server === server && (target === undefined || r.target === target));

export function baselineOf(s: ScenarioResult): TargetResult {
  return find(s, 'baseline')!;
}

export function evaluateGoals(r: Omit<BenchReport, 'goals' | 'totalSeconds'>): Goal[] {
  const goals: Goal[] = [];
  const scenario = (id: string) => r.scenarios.find((s) => s.id === id);
  const ratioGoal = (id: string, label: string, min: number) => {
    const s = scenario(id);
    const mine = find(s, 'siprec-control');
    if (!s || !mine) return goals.push({ goal: `${label} ≥ ${min}× baseline throughput`, met: null, measured: 'not run' });
    const ratio = mine.saturated.rps / baselineOf(s).saturated.rps;
    goals.push({ goal: `${label} ≥ ${min}× baseline throughput`, met: ratio >= min, measured: `${f2(ratio)}× (${int(mine.saturated.rps)} vs ${int(baselineOf(s).saturated.rps)} req/s)` });
  };
  ratioGoal('voice', 'Voice webhook', 0.75);
  ratioGoal('status', 'Status-callback ingestion, every event durable', 0.7);

  for (const [id, label] of [['voice', 'voice webhook'], ['status', 'status callbacks']] as const) {
    const mine = find(scenario(id), 'siprec-control');
    const goal = `At -R ${r.options.rate}: ${label} p99 ≤ 10 ms, 0 errors, 0 non-2xx`;
    if (!mine) goals.push({ goal, met: null, measured: 'not run' });
    else {
      const x = mine.fixedRate;
      goals.push({
        goal,
        met: x.p99 <= 10 && x.errors === 0 && x.non2xx === 0,
        // autocannon -R sends each second's share in a burst: the baseline's p99 shows what that alone costs.
        measured: `p99 ${f1(x.p99)} ms (baseline ${f1(baselineOf(scenario(id)!).fixedRate.p99)} ms), ${x.errors} errors, ${x.non2xx} non-2xx, ${int(x.rps)} req/s achieved`,
      });
    }
  }

  const rss = r.scenarios.map((s) => ({ id: s.id, ratio: s.peakRssMb['siprec-control'] / s.peakRssMb.baseline }));
  goals.push({
    goal: 'Peak RSS ≤ 1.3× the baseline’s',
    met: rss.length ? rss.every((x) => x.ratio <= 1.3) : null,
    measured: rss.length ? rss.map((x) => `${x.id} ${f2(x.ratio)}×`).join(', ') : 'not run',
  });
  goals.push({
    goal: `No RSS growth over a ${r.options.leakSeconds}-second run at -R ${r.options.rate}`,
    met: r.leak ? r.leak.met : null,
    measured: r.leak
      ? `${f1(r.leak.startMb)} → ${f1(r.leak.endMb)} MiB (${r.leak.growthMb >= 0 ? '+' : ''}${f1(r.leak.growthMb)}; tolerance ${f1(r.leak.toleranceMb)}), slope ${f2(r.leak.slopeMbPerMin)} MiB/min`
      : 'not run',
  });

  // A query's own latency: one connection, no queue in front of it (under load see the tables).
  const api = scenario('api');
  for (const target of Object.values(API_TARGETS)) {
    const x = find(api, 'siprec-control', target)?.singleClient;
    goals.push({
      goal: `Operator API on the seeded ledger: ${target} p95 ≤ 20 ms (one connection)`,
      met: x ? x.p95 <= 20 && x.non2xx === 0 && x.errors === 0 : null,
      measured: x ? `p95 ${f1(x.p95)} ms, p99 ${f1(x.p99)} ms, ${int(x.serverCpuUs)} µs CPU per request` : 'not run',
    });
  }
  if (r.postgres) goals.push(...postgresGoals(r));
  if (r.queryPlans) {
    const scans = r.queryPlans.flatMap((c) => c.statements.filter((s) => s.fullScans.length).map(() => c.name));
    goals.push({
      goal: 'EXPLAIN QUERY PLAN shows index use for every operator API query (test/unit/query-plans.test.ts)',
      met: scans.length === 0,
      measured: scans.length ? `full scans in: ${[...new Set(scans)].join('; ')}` : `${r.queryPlans.length} queries, no full table scan`,
    });
  }
  return goals;
}

/** The issue's goals for one instance on PostgreSQL, and two instances against one. */
function postgresGoals(r: Omit<BenchReport, 'goals' | 'totalSeconds'>): Goal[] {
  const goals: Goal[] = [];
  const scenario = (id: string) => r.scenarios.find((s) => s.id === id);
  const PG = 'siprec-control pg';
  for (const [id, label, min] of [['status', 'PostgreSQL: durable callback ingest', 0.5], ['voice', 'PostgreSQL: voice webhook', 0.75]] as const) {
    const s = scenario(id);
    const mine = find(s, PG);
    const goal = `${label} ≥ ${min}× baseline throughput (one instance)`;
    if (!s || !mine) goals.push({ goal, met: null, measured: 'not run' });
    else {
      const ratio = mine.saturated.rps / baselineOf(s).saturated.rps;
      goals.push({ goal, met: ratio >= min, measured: `${f2(ratio)}× (${int(mine.saturated.rps)} vs ${int(baselineOf(s).saturated.rps)} req/s; ${int(mine.saturated.totalCpuUs)} µs CPU per acknowledged request, node + PostgreSQL)` });
    }
  }
  for (const [id, label] of [['voice', 'voice webhook'], ['status', 'status callbacks']] as const) {
    const x = find(scenario(id), PG)?.fixedRate;
    const goal = `PostgreSQL at -R ${r.options.rate}: ${label} p99 ≤ 20 ms, 0 errors, 0 non-2xx (one instance)`;
    goals.push(
      x
        ? { goal, met: x.p99 <= 20 && x.errors === 0 && x.non2xx === 0, measured: `p99 ${f1(x.p99)} ms (baseline ${f1(baselineOf(scenario(id)!).fixedRate.p99)} ms), ${x.errors} errors, ${x.non2xx} non-2xx, ${int(x.rps)} req/s achieved` }
        : { goal, met: null, measured: 'not run' },
    );
  }
  for (const target of Object.values(API_TARGETS)) {
    const x = find(scenario('api'), PG, target)?.singleClient;
    const goal = `PostgreSQL operator API on the seeded ledger: ${target} p95 ≤ 20 ms (one connection)`;
    goals.push(x ? { goal, met: x.p95 <= 20 && x.non2xx === 0 && x.errors === 0, measured: `p95 ${f1(x.p95)} ms, p99 ${f1(x.p99)} ms, ${int(x.totalCpuUs)} µs CPU per request (node + PostgreSQL)` } : { goal, met: null, measured: 'not run' });
  }
  for (const id of ['voice', 'status', 'duplicate'] as const) {
    const one = find(scenario(id), PG);
    const two = find(scenario(id), `${PG} ×2`);
    const goal = `PostgreSQL, two instances on one database: ${id} at least as fast as one, within 5 % (no collapse under contention)`;
    if (!one || !two) goals.push({ goal, met: null, measured: 'not run' });
    // 5 % is the noise of one A B A B run on a shared machine; below that it is a tie, not a collapse.
    else goals.push({ goal, met: two.saturated.rps >= one.saturated.rps * 0.95, measured: `${int(two.saturated.rps)} vs ${int(one.saturated.rps)} req/s (${f2(two.saturated.rps / one.saturated.rps)}×)` });
  }
  return goals;
}

function latencyCells(x: Summary): string {
  return `${f1(x.p50)} | ${f1(x.p95)} | ${f1(x.p99)} | ${f1(x.p999)}`;
}

export function toMarkdown(r: BenchReport): string {
  const m = r.machine;
  const pg = r.postgres !== undefined;
  // With PostgreSQL, the database's CPU per request, and node's + its own per acknowledged request.
  const pgHead = pg ? ' PostgreSQL CPU µs/req | node + PostgreSQL µs/ack | acks/s per core |' : '';
  const pgAlign = pg ? ' ---: | ---: | ---: |' : '';
  const pgCells = (x: Summary) => (pg ? ` ${int(x.dbCpuUs)} | ${int(x.totalCpuUs)} | ${int(1e6 / x.totalCpuUs)} |` : '');
  const out: string[] = [
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GiB, ${m.os}, Node ${m.node}; ${m.date} (${f1(r.totalSeconds / 60)} min).`,
    `Each server is its own process; autocannon on 127.0.0.1 with ${r.options.connections} connections, order A B A B, warm-up discarded, ` +
      `${r.options.rounds} rounds × ${r.options.seconds} s saturated and ${r.options.rounds} × ${r.options.rateSeconds} s at -R ${r.options.rate}. ` +
      `siprec-control runs dist/main.js with LOG_LEVEL=${r.siprecLogLevel}, synchronous=FULL (its production setting). ${r.cpuMeasurement} ${r.latencyMeasurement}`,
    ...(r.postgres
      ? [
          '',
          `siprec-control pg: the same dist/main.js with DATABASE_URL on a throwaway PostgreSQL ${r.postgres.version} cluster on this machine (fsync on, synchronous_commit on), ` +
            'a fresh database per scenario and subject; "pg ×2" is two instances on one database, booted together, each sent half the connections (and half the rate). ' +
            '"node + PostgreSQL µs/ack" is the CPU of the service processes and of every PostgreSQL process per 2xx response; "acks/s per core" is 1e6 over it.',
        ]
      : []),
    '',
    '**At saturation** (latency in ms)',
    '',
    `| scenario | server | req/s | × baseline | p50 | p95 | p99 | p99.9 | server CPU µs/req | server CPU % |${pg ? ' PostgreSQL CPU % |' : ''} client CPU % | other CPU % | errors | non-2xx |${pgHead}`,
    `| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${pg ? ' ---: |' : ''} ---: | ---: | ---: | ---: |${pgAlign}`,
  ];
  for (const s of r.scenarios) {
    const base = baselineOf(s).saturated.rps;
    for (const t of s.results) {
      const x = t.saturated;
      const who = t.server === 'baseline' ? 'baseline' : `${t.server} ${t.target}`;
      out.push(
        `| ${s.id} | ${who} | ${int(x.rps)} | ${f2(x.rps / base)} | ${latencyCells(x)} | ${int(x.serverCpuUs)} | ${int(x.serverCpuPct)} |${pg ? ` ${int(x.dbCpuPct)} |` : ''} ` +
          `${int(x.clientCpuPct)} | ${int(x.otherCpuPct)} | ${x.errors} | ${x.non2xx} |${pgCells(x)}`,
      );
    }
  }
  const disturbed = r.scenarios.flatMap((s) => s.results).filter((t) => t.saturated.otherCpuPct > 10 || t.fixedRate.otherCpuPct > 10);
  if (disturbed.length > 0) {
    out.push('', `**Warning**: other processes used more than 10 % of a core during ${disturbed.length} of the measurements above ("other CPU %"); run again on a quiet machine before trusting absolute figures (the A B A B ratios suffer less).`);
  }
  const clientBound = r.scenarios.flatMap((s) => s.results.filter((t) => t.saturated.clientCpuPct > 90).map((t) => `${s.id} ${t.server} ${t.target}`));
  if (clientBound.length > 0) {
    out.push('', `**Client-bound**: the load generator used over 90 % of a core in ${clientBound.join('; ')}: those rates are a floor for the server, not its limit.`);
  }
  out.push('', `**At a fixed ${r.options.rate} requests/s** (autocannon -R; latency in ms)`, '');
  out.push(`| scenario | server | req/s achieved | p50 | p95 | p99 | p99.9 | server CPU µs/req | errors | non-2xx |${pgHead}`);
  out.push(`| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${pgAlign}`);
  for (const s of r.scenarios) {
    for (const t of s.results) {
      const x = t.fixedRate;
      const who = t.server === 'baseline' ? 'baseline' : `${t.server} ${t.target}`;
      out.push(`| ${s.id} | ${who} | ${int(x.rps)} | ${latencyCells(x)} | ${int(x.serverCpuUs)} | ${x.errors} | ${x.non2xx} |${pgCells(x)}`);
    }
  }
  const single = r.scenarios.flatMap((s) => s.results.filter((t) => t.singleClient).map((t) => ({ s, t, x: t.singleClient! })));
  if (single.length > 0) {
    out.push('', `**One connection at ${SINGLE_CLIENT_RATE} requests/s** (a request's own latency, no queue; ms)`, '');
    out.push(`| scenario | server | p50 | p95 | p99 | p99.9 | server CPU µs/req | errors | non-2xx |${pgHead}`, `| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${pgAlign}`);
    for (const { s, t, x } of single) {
      const who = t.server === 'baseline' ? 'baseline' : `${t.server} ${t.target}`;
      out.push(`| ${s.id} | ${who} | ${latencyCells(x)} | ${int(x.serverCpuUs)} | ${x.errors} | ${x.non2xx} |${pgCells(x)}`);
    }
  }
  out.push('', '**Memory** (MiB: RSS after start-up, then peak VmHWM over the scenario)', '');
  out.push('| scenario | baseline at start | siprec-control at start | baseline peak | siprec-control peak | peak × baseline |', '| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const s of r.scenarios) {
    const b = s.peakRssMb.baseline;
    const mine = s.peakRssMb['siprec-control'];
    out.push(`| ${s.id} | ${f1(s.startRssMb.baseline)} | ${f1(s.startRssMb['siprec-control'])} | ${f1(b)} | ${f1(mine)} | ${f2(mine / b)} |`);
    // On PostgreSQL, per instance (the largest of two): the node process, not the database's.
    for (const kind of ['siprec-control pg', 'siprec-control pg ×2'] as const) {
      const peak = s.peakRssMb[kind];
      if (peak !== undefined) out.push(`| ${s.id}, ${kind} | | ${f1(s.startRssMb[kind] ?? NaN)} | | ${f1(peak)} | ${f2(peak / b)} |`);
    }
  }
  if (r.leak) {
    const l = r.leak;
    out.push('', `**Leak check**: ${f1(l.seconds)} s at ${int(l.rate)} req/s (a voice call and a status callback, all new): RSS ${f1(l.startMb)} → ${f1(l.endMb)} MiB, max ${f1(l.maxMb)}, slope ${f2(l.slopeMbPerMin)} MiB/min; p99 ${f1(l.p99)} ms, ${l.errors} errors, ${l.non2xx} non-2xx.`);
  }
  if (r.seed) {
    const d = r.seed;
    out.push('', `**Seeded ledger**: ${int(d.events)} events over ${int(d.sessions)} sessions (${int(d.calls)} calls), ${d.reused ? `reused from the cache (seeded ${d.ageHours} h before)` : `seeded in ${f1(d.seedSeconds)} s`}.`);
  }
  if (r.postgres?.seed) {
    const d = r.postgres.seed;
    out.push('', `**Seeded PostgreSQL ledger**: the same ${int(d.events)} events over ${int(d.sessions)} sessions (${int(d.calls)} calls), in a database made by \`siprec-control migrate\`, loaded with COPY in ${f1(d.seedSeconds)} s.`);
  }
  for (const sk of r.skipped) out.push('', `**Skipped ${sk.id}**: ${sk.reason}`);
  out.push('', '**Goals** (ratios to the baseline measured in the same run)', '');
  for (const g of r.goals) out.push(`- ${g.met === null ? 'NOT MEASURED' : g.met ? 'met' : 'NOT MET'}: ${g.goal} — ${g.measured}`);
  for (const p of r.profiles) {
    out.push('', `**CPU profile ${p.file.split('/').pop()}** (${f1(p.busyMs)} ms busy, ${f1(p.idlePct)} % idle, GC ${f1(p.gcPct)} %): top self time`, '');
    if (p.split) {
      out.push(`Under the profiler (its overhead is in node's share): ${int(p.split.rps)} req/s; CPU per response: node ${int(p.split.nodeUs)} µs, PostgreSQL ${int(p.split.postgresUs)} µs, load generator ${int(p.split.clientUs)} µs.`, '');
    }
    out.push('| % busy | function | where |', '| ---: | --- | --- |');
    for (const t of p.topSelf.slice(0, 10)) out.push(`| ${f1(t.pct)} | ${t.name.replace(/\|/g, '\\|')} | ${t.location} |`);
    out.push('', `By package: ${p.byPackage.slice(0, 8).map((x) => `${x.pkg} ${f1(x.pct)} %`).join(', ')}.`);
    out.push('', `Library steps, total time incl. callees: ${p.stages.map((x) => `${x.stage.trim()} ${f1(x.pct)} %`).join(', ')}.`);
    out.push('', `Own functions, total time incl. callees: ${p.ownInclusive.slice(0, 8).map((o) => `${o.name} (${o.location}) ${f1(o.pct)} %`).join(', ')}.`);
  }
  return `${out.join('\n')}\n`;
}
