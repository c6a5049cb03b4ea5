import { buildSignedCallbacks, missingOrDoubled, sendCallbacks } from '../helpers/callback-load';
import { tempDir, type TempDir } from '../helpers/env';
import { describeWithPostgres, freshPgDatabase, type PgDatabase } from '../helpers/pg';
import { pgServerEnv, readPgLedger, served, serverFleet, sleep } from '../helpers/pg-system';
import type { ServerProcess } from '../helpers/server-process';

const SESSIONS = 500; // two callbacks each: 1,000 callbacks
const CLIENTS = 16;
const KILLS = 3;

/** Acknowledgement counts at which to kill: one at a random point in each of KILLS slices of 5–85 % of the run. */
function killPoints(total: number): number[] {
  const from = total * 0.05;
  const slice = (total * 0.8) / KILLS;
  return Array.from({ length: KILLS }, (_, i) => Math.round(from + slice * (i + 0.2 + 0.6 * Math.random())));
}

describeWithPostgres('two instances on one PostgreSQL database, one of them killed -9 under load', () => {
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

  it('stores every acknowledged callback exactly once, no event twice, each session stopped', async () => {
    const env = pgServerEnv(dir, db!.url);
    const callbacks = buildSignedCallbacks(SESSIONS);
    const points = killPoints(callbacks.length);
    const a = await fleet.start(env);
    let b: ServerProcess | null = await fleet.start(env);
    const incarnationsOfB: ServerProcess[] = [b];
    const inFlightAtKill: number[] = [];
    const exits: Array<number | string> = [];
    const restarts: Array<Promise<void>> = [];
    let restarting = false;
    let turn = 0;

    // Like a load balancer: the live instances in turn. A request cut off by the kill is retried by
    // the client, and may land on A: A must see that B already stored it, or store it itself.
    const target = () => {
      const live = b ? [a, b] : [a];
      return live[turn++ % live.length]!.url;
    };
    const killAndRestartB = async (inFlight: () => number) => {
      await sleep(Math.random() * 10);
      const victim = b!;
      inFlightAtKill.push(inFlight());
      victim.child.kill('SIGKILL');
      b = null;
      exits.push(await victim.exited);
      b = await fleet.start(env);
      incarnationsOfB.push(b);
    };

    const result = await sendCallbacks(callbacks, {
      clients: CLIENTS,
      target,
      deadlineMs: 45_000,
      onAck: (f) => {
        if (!restarting && inFlightAtKill.length < points.length && f.acknowledged >= points[inFlightAtKill.length]!) {
          restarting = true;
          restarts.push(killAndRestartB(() => f.inFlight).finally(() => (restarting = false)));
        }
      },
    });
    await Promise.all(restarts);
    // What was acknowledged must be committed: a last kill of both changes nothing.
    for (const s of [a, b]) s.child.kill('SIGKILL');
    await Promise.all([a.exited, b.exited]);

    const ledger = await readPgLedger(db!.url);
    const lost = missingOrDoubled(result.acked, ledger.counts);
    const storedTwice = [...ledger.counts.values()].filter((n) => n !== 1).length;
    const byB = incarnationsOfB.reduce((sum, p) => sum + served(p), 0);
    console.log(
      'postgres, two instances, kill -9 of one: ' +
        JSON.stringify({
          sent: result.sent,
          acknowledged: result.acked.size,
          stored: ledger.stored,
          lost: lost.length,
          storedTwice,
          kills: inFlightAtKill.length,
          inFlightAtEachKill: inFlightAtKill,
          byA: served(a),
          byB,
          attempts: result.attempts,
          droppedConnections: result.connectionFailures,
          answered503: result.unavailable,
          sessionStates: ledger.sessionStates,
          calls: ledger.calls,
        }),
    );

    expect(result.unexpected).toEqual([]);
    expect(exits).toEqual(Array(KILLS).fill('SIGKILL'));
    // The kills cut requests off mid-flight, so some were repeated (to A or to the next B).
    expect(result.connectionFailures).toBeGreaterThan(0);
    // The database stayed up throughout: a kill of B is no reason for A to refuse a write.
    expect(result.unavailable).toBe(0);
    expect(served(a)).toBeGreaterThan(callbacks.length * 0.3);
    expect(byB).toBeGreaterThan(callbacks.length * 0.1);
    expect(result.acked.size).toBe(callbacks.length);
    expect(lost).toEqual([]);
    expect(storedTwice).toBe(0);
    expect(ledger.stored).toBe(callbacks.length);
    // State is derived from the set of a session's events, whichever instance stored which.
    expect(ledger.sessionStates).toEqual({ stopped: SESSIONS });
    // Each session arrived unknown: one call and one session made for it, never two.
    expect(ledger.calls).toBe(SESSIONS);
  }, 90_000);
});
