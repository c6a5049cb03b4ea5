import { z } from 'zod';

export const SCENARIO_IDS = ['voice', 'status', 'duplicate', 'api'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

const seconds = (fallback: number, min = 1) => z.coerce.number().min(min).max(3600).default(fallback);

// The defaults keep `npm run bench` (build included) under 10 minutes on a 2-core machine.
const envSchema = z.object({
  BENCH_SECONDS: seconds(8),
  BENCH_RATE_SECONDS: seconds(5),
  BENCH_WARMUP_SECONDS: seconds(2),
  BENCH_ROUNDS: z.coerce.number().int().min(2, 'at least 2 rounds: A B A B').max(20).default(2),
  BENCH_CONNECTIONS: z.coerce.number().int().min(1).max(1000).default(10),
  BENCH_RATE: z.coerce.number().int().min(1).max(100_000).default(1000),
  BENCH_LEAK_SECONDS: seconds(60, 0),
  BENCH_PROFILE_SECONDS: seconds(5, 0),
  BENCH_SCENARIOS: z
    .string()
    .default(SCENARIO_IDS.join(','))
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.enum(SCENARIO_IDS)).min(1)),
  BENCH_SEED_SESSIONS: z.coerce.number().int().min(1000).max(10_000_000).default(250_000),
  BENCH_SEED_EVENTS_PER_SESSION: z.coerce.number().int().min(1).max(8).default(4),
  BENCH_RESEED: z.enum(['0', '1']).default('0'),
  BENCH_STRICT: z.enum(['0', '1']).default('0'),
  BENCH_QUIET_SECONDS: seconds(60, 0),
});

export type BenchOptions = {
  seconds: number;
  rateSeconds: number;
  warmupSeconds: number;
  rounds: number;
  connections: number;
  rate: number;
  leakSeconds: number;
  profileSeconds: number;
  scenarios: ScenarioId[];
  seedSessions: number;
  seedEventsPerSession: number;
  reseed: boolean;
  /** Exit 1 when a goal is not met (for CI); by default the bench only reports. */
  strict: boolean;
  /**
   * `--store postgres`: siprec-control on PostgreSQL too (one instance and two), beside SQLite and
   * the baseline. The fixed rate is then 500 requests/s (the PostgreSQL goal) unless BENCH_RATE says
   * otherwise, and the leak check is off unless BENCH_LEAK_SECONDS asks for it (it is SQLite's).
   */
  store: 'sqlite' | 'postgres';
  /**
   * The longest wait for the rest of the machine to go quiet (under 25 % of a core) before a
   * scenario; before each round a sixth of it. 0: no waiting.
   */
  quietSeconds: number;
};

/** `--store postgres` or `--store=postgres` on the command line (`npm run bench -- --store postgres`). */
export function storeArg(argv: string[]): 'sqlite' | 'postgres' {
  const i = argv.findIndex((a) => a === '--store' || a.startsWith('--store='));
  if (i < 0) return 'sqlite';
  const value = argv[i]!.includes('=') ? argv[i]!.split('=')[1] : argv[i + 1];
  if (value !== 'sqlite' && value !== 'postgres') throw new Error(`--store takes sqlite or postgres, not ${value ?? 'nothing'}`);
  return value;
}

export function loadOptions(env: NodeJS.ProcessEnv, argv: string[] = []): BenchOptions {
  const store = storeArg(argv);
  if (store === 'postgres') env = { BENCH_RATE: '500', BENCH_LEAK_SECONDS: '0', ...env };
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid bench settings:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    seconds: e.BENCH_SECONDS,
    rateSeconds: e.BENCH_RATE_SECONDS,
    warmupSeconds: e.BENCH_WARMUP_SECONDS,
    rounds: e.BENCH_ROUNDS,
    connections: e.BENCH_CONNECTIONS,
    rate: e.BENCH_RATE,
    leakSeconds: e.BENCH_LEAK_SECONDS,
    profileSeconds: e.BENCH_PROFILE_SECONDS,
    scenarios: [...new Set(e.BENCH_SCENARIOS)],
    seedSessions: e.BENCH_SEED_SESSIONS,
    seedEventsPerSession: e.BENCH_SEED_EVENTS_PER_SESSION,
    reseed: e.BENCH_RESEED === '1',
    strict: e.BENCH_STRICT === '1',
    store,
    quietSeconds: e.BENCH_QUIET_SECONDS,
  };
}
