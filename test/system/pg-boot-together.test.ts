import { buildSignedCallbacks, missingOrDoubled, sendCallbacks } from '../helpers/callback-load';
import { tempDir, type TempDir } from '../helpers/env';
import { describeWithPostgres, freshPgDatabase, type PgDatabase } from '../helpers/pg';
import { appliedMigrations, pgServerEnv, readPgLedger, served, serverFleet, shippedPostgresMigrations } from '../helpers/pg-system';
import type { ServerProcess } from '../helpers/server-process';

const INSTANCES = 3;
// Each round is a new empty database: one boot race is one chance to catch a migration run twice.
const ROUNDS = 2;

describeWithPostgres('three instances booting at once on an empty PostgreSQL database', () => {
  let dir: TempDir;
  const databases: PgDatabase[] = [];
  const fleet = serverFleet();
  beforeAll(() => (dir = tempDir()));
  afterAll(async () => {
    await fleet.killAll();
    for (const db of databases) await db.drop();
    dir.remove();
  });

  it('apply each migration once, and all three listen and store', async () => {
    const shipped = shippedPostgresMigrations();
    expect(shipped.length).toBeGreaterThan(0);
    for (let round = 1; round <= ROUNDS; round++) {
      const db = await freshPgDatabase();
      databases.push(db);
      const env = pgServerEnv(dir, db.url);
      const started = Date.now();
      const boots = await Promise.allSettled(Array.from({ length: INSTANCES }, () => fleet.start(env)));
      const bootMs = Date.now() - started;
      const failed = boots.flatMap((b) => (b.status === 'rejected' ? [String(b.reason).split('\n').slice(0, 6).join(' | ')] : []));
      expect(failed).toEqual([]);
      const instances = boots.map((b) => (b as PromiseFulfilledResult<ServerProcess>).value);

      const applied = await appliedMigrations(db.url);
      // Every instance takes requests and writes on the schema the others made.
      const callbacks = buildSignedCallbacks(15);
      let turn = 0;
      const result = await sendCallbacks(callbacks, { clients: 6, target: () => instances[turn++ % INSTANCES]!.url, deadlineMs: 20_000 });
      for (const s of instances) s.child.kill('SIGTERM');
      const exits = await Promise.all(instances.map((s) => s.exited));
      const ledger = await readPgLedger(db.url);
      console.log(
        `postgres, ${INSTANCES} instances booted together (round ${round}): ` +
          JSON.stringify({
            bootMs,
            shipped,
            applied: applied.map((m) => `${m.version}x${m.n}`),
            listening: instances.length,
            servedEach: instances.map((s) => served(s)),
            acknowledged: result.acked.size,
            stored: ledger.stored,
            exits,
          }),
      );

      expect(applied).toEqual(shipped.map((version) => ({ version, n: 1 })));
      expect(result.unexpected).toEqual([]);
      expect(result.unavailable).toBe(0);
      expect(result.acked.size).toBe(callbacks.length);
      expect(missingOrDoubled(result.acked, ledger.counts)).toEqual([]);
      expect(ledger.stored).toBe(callbacks.length);
      for (const s of instances) expect(served(s)).toBeGreaterThan(0);
      expect(exits).toEqual(Array(INSTANCES).fill(0));
    }
  }, 90_000);
});
