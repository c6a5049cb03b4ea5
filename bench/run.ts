/**
 * npm run bench: siprec-control against a bare-Express baseline measured in the same run.
 * Settings come from BENCH_* variables (bench/options.ts); results go to bench/results/latest.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../src/store/sqlite/open';
import { tempDir, type TempDir } from '../test/helpers/env';
import { installAbortHandlers, onAbort } from './cleanup';
import { leakCheck, type LeakResult } from './leak';
import { loadOptions, type BenchOptions, type ScenarioId } from './options';
import { apiPlan, duplicateForm, duplicatePlan, operatorApiStatus, postOnce, statusPlan, voicePlan } from './plans';
import { machineInfo } from './proc';
import type { ProfileSummary } from './cpuprofile';
import { PROFILED_LOADS, profileHotPath, RESULTS_DIR } from './profile';
import { clientBenchMain } from './pg-clients';
import type { PgSeedResult } from './pg-seed';
import { onePg, seededPgDatabase, startPgBench, twoPg, type SubjectSpec } from './pg-subjects';
import { planOperatorQueries } from './query-plans';
import { evaluateGoals, toMarkdown, type BenchReport } from './report';
import { runScenario, type ScenarioPlan, type ScenarioResult } from './scenarios';
import { seededDatabase, type SeededDatabase } from './seed';
import { ROOT, SIPREC_LOG_LEVEL, startBaseline, startSiprec, type ServerHandle } from './servers';

const started = Date.now();
const log = (line: string) => process.stdout.write(`${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s ${line}\n`);

interface Prepared {
  plan?: ScenarioPlan;
  skip?: string;
}

/**
 * Starts the servers of a scenario (the baseline, then each subject), lets `prepare` set it up,
 * runs it, and always stops them all.
 */
async function withServers(
  id: ScenarioId,
  subjects: (dir: TempDir) => Promise<SubjectSpec[]>,
  prepare: (servers: ServerHandle[]) => Promise<Prepared>,
  opts: BenchOptions,
): Promise<ScenarioResult | { skipped: string }> {
  const dir = tempDir(`siprec-bench-${id}-`);
  const forget = onAbort(() => dir.remove());
  const started: ServerHandle[] = [];
  try {
    started.push(await startBaseline());
    for (const subject of await subjects(dir)) started.push(await subject.start(dir));
    const { plan, skip } = await prepare(started.slice(1));
    if (!plan) return { skipped: skip ?? 'not prepared' };
    log(`[${id}] ${plan.title}`);
    return await runScenario(plan, started, opts, log);
  } finally {
    for (const s of started) await s.stop();
    dir.remove();
    forget();
  }
}

const sqliteSubject = (databasePath: (dir: TempDir) => string): SubjectSpec => ({
  kind: 'siprec-control',
  start: (dir) => startSiprec({ dir, databasePath: databasePath(dir) }),
});

async function main(): Promise<void> {
  const opts = loadOptions(process.env, process.argv.slice(2));
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
  const pg = opts.store === 'postgres' ? await startPgBench(log) : undefined;
  let pgSeed: PgSeedResult | undefined;
  // SQLite always; with --store postgres, one and two instances on PostgreSQL beside it.
  const subjectsFor = (id: ScenarioId) => () => Promise.resolve([sqliteSubject(fresh), ...(pg ? [onePg(pg, id), twoPg(pg, id)] : [])]);
  const scenarioRun = async (id: ScenarioId) => {
    if (id === 'voice') record(id, await withServers(id, subjectsFor(id), () => Promise.resolve({ plan: voicePlan() }), opts));
    if (id === 'status') record(id, await withServers(id, subjectsFor(id), () => Promise.resolve({ plan: statusPlan() }), opts));
    if (id === 'duplicate') {
      const form = duplicateForm();
      record(
        id,
        await withServers(id, subjectsFor(id), async (servers) => {
          for (const server of servers) {
            const status = await postOnce(server.url, form);
            if (status !== 204) throw new Error(`the original callback got ${status} from ${server.kind}, not 204:\n${server.output()}`);
          }
          return { plan: duplicatePlan(form) };
        }, opts),
      );
    }
    if (id === 'api') {
      const spec = { sessions: opts.seedSessions, eventsPerSession: opts.seedEventsPerSession, reseed: opts.reseed };
      // The operator API on one instance: a second one adds nothing to a read's latency.
      const subjects = async (dir: TempDir): Promise<SubjectSpec[]> => {
        seed = seededDatabase(spec, dir.file('seeded.sqlite'), log);
        const list = [sqliteSubject(() => dir.file('seeded.sqlite'))];
        if (pg) {
          const seeded = await seededPgDatabase(pg, dir, spec, log);
          pgSeed = seeded.seed;
          list.push(onePg(pg, id, () => seeded.url));
        }
        return list;
      };
      record(
        id,
        await withServers(id, subjects, async (servers) => {
          for (const server of servers) {
            const statuses = await operatorApiStatus(server.url);
            if (Object.values(statuses).some((s) => s !== 200)) {
              return { skip: `the operator API of ${server.kind} does not answer 200 yet: ${JSON.stringify(statuses)}` };
            }
          }
          return { plan: apiPlan(seed!.calls) };
        }, opts),
      );
    }
  };

  const profiles: ProfileSummary[] = [];
  let leak: LeakResult | undefined;
  try {
    for (const id of opts.scenarios) await attempt(id, () => scenarioRun(id));
    leak = opts.leakSeconds > 0 ? await attempt('leak', () => leakCheck(opts, log)) : undefined;
    // With --store postgres the profiles are of the PostgreSQL instance: that is where a missed goal is explained.
    for (const kind of opts.profileSeconds > 0 ? PROFILED_LOADS : []) {
      const database = pg ? () => pg.freshDatabase(`profile_${kind}`) : undefined;
      const p = await attempt(`profile ${kind}`, () => profileHotPath(kind, opts, log, database, pg?.postmaster));
      if (p) profiles.push(p);
    }
  } finally {
    pg?.stop();
  }
  const queryPlans = await attempt('query plans', async () => {
    const planDir = tempDir('siprec-bench-plans-');
    const planDb = openDatabase(planDir.file('ledger.sqlite'), { migrationsDir: path.join(ROOT, 'migrations', 'sqlite') });
    return planOperatorQueries(planDb).finally(() => (planDb.close(), planDir.remove()));
  });

  const partial = {
    machine,
    options: opts,
    siprecLogLevel: SIPREC_LOG_LEVEL,
    cpuMeasurement:
      'Server CPU is utime+stime of the server process (all threads; two instances: both) from /proc/<pid>/stat over each run; client CPU is this process’s process.cpuUsage().' +
      (pg ? ' PostgreSQL CPU is utime+stime of the postmaster, every child, and the children it reaped (cutime+cstime), over the same run.' : ''),
    latencyMeasurement:
      'Latency is autocannon’s per-response time, merged over the rounds (not its -R “corrected” histogram). Note autocannon’s -R sends each connection’s share of a second back to back at the start of the second: a burst, not evenly spaced arrivals.',
    scenarios,
    skipped,
    seed,
    leak,
    queryPlans,
    profiles,
    ...(pg ? { postgres: { version: pg.version, seed: pgSeed } } : {}),
  };
  const goals = evaluateGoals(partial);
  const report: BenchReport = { ...partial, goals, totalSeconds: (Date.now() - started) / 1000 };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const markdown = toMarkdown(report);
  // SQLite's own results stay in latest.*: the reference that tells whether SQLite mode regressed.
  const name = pg ? 'postgres' : 'latest';
  writeFileSync(path.join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(RESULTS_DIR, `${name}.md`), markdown);
  process.stdout.write(`\n${markdown}\nwrote bench/results/${name}.json and bench/results/${name}.md\n`);
  if (skipped.some((x) => x.reason.startsWith('failed'))) process.exitCode = 1;
  if (opts.strict && goals.some((g) => g.met === false)) process.exitCode = 1;
}

installAbortHandlers();
// `npm run bench -- --clients`: the PostgreSQL client comparison (bench/pg-clients.ts) instead.
(process.argv.includes('--clients') ? clientBenchMain(log) : main()).catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
