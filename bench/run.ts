/**
 * npm run bench: siprec-control against a bare-Express baseline measured in the same run.
 * Settings come from BENCH_* variables (bench/options.ts); results go to bench/results/latest.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../src/store/sqlite/open';
import { tempDir, type TempDir } from '../test/helpers/env';
import { leakCheck } from './leak';
import { loadOptions, type BenchOptions, type ScenarioId } from './options';
import { apiPlan, duplicateForm, duplicatePlan, operatorApiStatus, postOnce, statusPlan, voicePlan } from './plans';
import { machineInfo } from './proc';
import type { ProfileSummary } from './cpuprofile';
import { PROFILED_LOADS, profileHotPath, RESULTS_DIR } from './profile';
import { clientBenchMain } from './pg-clients';
import { planOperatorQueries } from './query-plans';
import { evaluateGoals, toMarkdown, type BenchReport } from './report';
import { runScenario, type ScenarioPlan, type ScenarioResult } from './scenarios';
import { seededDatabase, type SeededDatabase } from './seed';
import { ROOT, SIPREC_LOG_LEVEL, startBaseline, startSiprec, type ServerHandle, type ServerKind } from './servers';

const started = Date.now();
const log = (line: string) => process.stdout.write(`${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s ${line}\n`);

interface Prepared {
  plan?: ScenarioPlan;
  skip?: string;
}

/** Starts both servers of a scenario, lets `prepare` set it up, runs it, and always stops both. */
async function withServers(
  id: ScenarioId,
  databasePath: (dir: TempDir) => string,
  prepare: (servers: Record<ServerKind, ServerHandle>) => Promise<Prepared>,
  opts: BenchOptions,
): Promise<ScenarioResult | { skipped: string }> {
  const dir = tempDir(`siprec-bench-${id}-`);
  const started: ServerHandle[] = [];
  try {
    const baseline = await startBaseline();
    started.push(baseline);
    const siprec = await startSiprec({ dir, databasePath: databasePath(dir) });
    started.push(siprec);
    const servers = { baseline, 'siprec-control': siprec };
    const { plan, skip } = await prepare(servers);
    if (!plan) return { skipped: skip ?? 'not prepared' };
    log(`[${id}] ${plan.title}`);
    return await runScenario(plan, servers, opts, log);
  } finally {
    for (const s of started) await s.stop();
    dir.remove();
  }
}

async function main(): Promise<void> {
  const opts = loadOptions(process.env);
  const machine = machineInfo();
  log(`siprec-control bench on ${machine.cpuModel} (${machine.cores} cores), Node ${machine.node}; scenarios ${opts.scenarios.join(', ')}`);
  const scenarios: ScenarioResult[] = [];
  const skipped: Array<{ id: string; reason: string }> = [];
  let seed: SeededDatabase | undefined;
  const record = (id: ScenarioId, r: ScenarioResult | { skipped: string }) => {
    if ('skipped' in r) {
      skipped.push({ id, reason: r.skipped });
      log(`[${id}] skipped: ${r.skipped}`);
    } else scenarios.push(r);
  };
  const fresh = (dir: TempDir) => dir.file('ledger.sqlite');

  // A phase that fails (a server that will not start, dist/ rebuilt under us) is reported, and the
  // results of the others are still written.
  const attempt = async <T>(id: string, phase: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await phase();
    } catch (err) {
      const reason = `failed: ${(err as Error).message.split('\n').slice(0, 6).join(' | ')}`;
      skipped.push({ id, reason });
      log(`[${id}] ${reason}`);
      return undefined;
    }
  };
  const scenarioRun = async (id: ScenarioId) => {
    if (id === 'voice') record(id, await withServers(id, fresh, async () => ({ plan: voicePlan() }), opts));
    if (id === 'status') record(id, await withServers(id, fresh, async () => ({ plan: statusPlan() }), opts));
    if (id === 'duplicate') {
      const form = duplicateForm();
      record(
        id,
        await withServers(id, fresh, async (servers) => {
          const status = await postOnce(servers['siprec-control'].url, form);
          if (status !== 204) throw new Error(`the original callback got ${status}, not 204:\n${servers['siprec-control'].output()}`);
          return { plan: duplicatePlan(form) };
        }, opts),
      );
    }
    if (id === 'api') {
      const copy = (dir: TempDir) => {
        seed = seededDatabase({ sessions: opts.seedSessions, eventsPerSession: opts.seedEventsPerSession, reseed: opts.reseed }, dir.file('seeded.sqlite'), log);
        return dir.file('seeded.sqlite');
      };
      record(
        id,
        await withServers(id, copy, async (servers) => {
          const statuses = await operatorApiStatus(servers['siprec-control'].url);
          if (Object.values(statuses).some((s) => s !== 200)) {
            return { skip: `the operator API does not answer 200 yet: ${JSON.stringify(statuses)}` };
          }
          return { plan: apiPlan(seed!.calls) };
        }, opts),
      );
    }
  };

  for (const id of opts.scenarios) await attempt(id, () => scenarioRun(id));
  const leak = opts.leakSeconds > 0 ? await attempt('leak', () => leakCheck(opts, log)) : undefined;
  const profiles: ProfileSummary[] = [];
  for (const kind of opts.profileSeconds > 0 ? PROFILED_LOADS : []) {
    const p = await attempt(`profile ${kind}`, () => profileHotPath(kind, opts, log));
    if (p) profiles.push(p);
  }
  const queryPlans = await attempt('query plans', async () => {
    const planDir = tempDir('siprec-bench-plans-');
    const planDb = openDatabase(planDir.file('ledger.sqlite'), { migrationsDir: path.join(ROOT, 'migrations') });
    return planOperatorQueries(planDb).finally(() => (planDb.close(), planDir.remove()));
  });

  const partial = {
    machine,
    options: opts,
    siprecLogLevel: SIPREC_LOG_LEVEL,
    cpuMeasurement: 'Server CPU is utime+stime of the server process (all threads) from /proc/<pid>/stat over each run; client CPU is this process’s process.cpuUsage().',
    latencyMeasurement:
      'Latency is autocannon’s per-response time, merged over the rounds (not its -R “corrected” histogram). Note autocannon’s -R sends each connection’s share of a second back to back at the start of the second: a burst, not evenly spaced arrivals.',
    scenarios,
    skipped,
    seed,
    leak,
    queryPlans,
    profiles,
  };
  const goals = evaluateGoals(partial);
  const report: BenchReport = { ...partial, goals, totalSeconds: (Date.now() - started) / 1000 };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const markdown = toMarkdown(report);
  writeFileSync(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(RESULTS_DIR, 'latest.md'), markdown);
  process.stdout.write(`\n${markdown}\nwrote bench/results/latest.json and bench/results/latest.md\n`);
  if (skipped.some((x) => x.reason.startsWith('failed'))) process.exitCode = 1;
  if (opts.strict && goals.some((g) => g.met === false)) process.exitCode = 1;
}

// `npm run bench -- --clients`: the PostgreSQL client comparison (bench/pg-clients.ts) instead.
(process.argv.includes('--clients') ? clientBenchMain(log) : main()).catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
