import { buildSignedCallbacks, missingOrDoubled } from '../helpers/callback-load';
import { tempDir, type TempDir } from '../helpers/env';
import { describeWithPostgres, freshPgDatabase, type PgDatabase } from '../helpers/pg';
import { percentile, pgServerEnv, readPgLedger, serverFleet } from '../helpers/pg-system';
import { postCallback } from '../helpers/webhook-client';

const SESSIONS = 250; // a started and a stopped each: 500 callbacks, each sent to both instances at once
const PAIRS_IN_FLIGHT = 8;

describeWithPostgres('the same callback delivered to two instances at the same moment', () => {
  let dir: TempDir;
  let db: PgDatabase | undefined;
  const fleet = serverFleet();
  beforeAll(async () => {
    dir = tempDir();
    db = await freshPgDatabase();
  });
  afterAll(async () => {
    await fleet.killAll();
    await db?.drop();
    dir.remove();
  });

  it('is acknowledged by both and stored once, 500 times over', async () => {
    const env = pgServerEnv(dir, db!.url);
    const [a, b] = await Promise.all([fleet.start(env), fleet.start(env)]);
    const callbacks = buildSignedCallbacks(SESSIONS);
    const statuses = new Map<string, number>();
    const unexpected: string[] = [];
    const ms: number[] = [];
    let next = 0;
    const deadline = Date.now() + 50_000;

    // Several pairs in flight at once, so a session's started and stopped also race each other,
    // each on both instances: every session still arrives unknown and must end as one call, one session.
    await Promise.all(
      Array.from({ length: PAIRS_IN_FLIGHT }, async () => {
        while (next < callbacks.length && Date.now() < deadline) {
          const cb = callbacks[next++]!;
          const answers = await Promise.all([postCallback(a.url, cb), postCallback(b.url, cb)].map((p) => p.catch((err: Error) => ({ status: 0, text: err.message, ms: 0 }))));
          for (const [i, r] of answers.entries()) {
            statuses.set(String(r.status), (statuses.get(String(r.status)) ?? 0) + 1);
            ms.push(r.ms);
            if (r.status !== 204) unexpected.push(`${'AB'[i]} answered ${r.status} for ${cb.key}: ${r.text.slice(0, 120)}`);
          }
        }
      }),
    );
    for (const s of [a, b]) s.child.kill('SIGTERM');
    const exits = await Promise.all([a.exited, b.exited]);

    const ledger = await readPgLedger(db!.url);
    const notOnce = missingOrDoubled(
      callbacks.map((c) => c.key),
      ledger.counts,
    );
    console.log(
      'postgres, same callback to both instances: ' +
        JSON.stringify({
          callbacks: next,
          requests: ms.length,
          statuses: Object.fromEntries(statuses),
          stored: ledger.stored,
          notStoredOnce: notOnce.length,
          sessionStates: ledger.sessionStates,
          calls: ledger.calls,
          p99Ms: Math.round(percentile(ms, 99)),
          exits,
        }),
    );

    expect(next).toBe(callbacks.length);
    // Twilio's repeat is acknowledged like the first delivery: 204 from both, never a 5xx.
    expect(unexpected.slice(0, 10)).toEqual([]);
    expect(notOnce.slice(0, 10)).toEqual([]);
    expect(ledger.stored).toBe(callbacks.length);
    expect(ledger.sessionStates).toEqual({ stopped: SESSIONS });
    expect(ledger.calls).toBe(SESSIONS);
    expect(exits).toEqual([0, 0]);
  }, 90_000);
});
