import { buildSignedCallbacks, missingOrDoubled, readLedger, sendCallbacks } from '../helpers/callback-load';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

const SESSIONS = 1_000; // two callbacks each: 2,000 callbacks
const CLIENTS = 16;
const KILLS = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Acknowledgement counts at which to kill: one at a random point in each of KILLS equal slices of
 * 5–90 % of the run, so every kill lands under load and each restarted server does some work first.
 */
function killPoints(total: number): number[] {
  const from = total * 0.05;
  const slice = (total * 0.85) / KILLS;
  return Array.from({ length: KILLS }, (_, i) => Math.round(from + slice * (i + 0.2 + 0.8 * Math.random())));
}

describe('kill -9 while status callbacks pour in', () => {
  let dir: TempDir;
  let server: ServerProcess | null = null;
  beforeAll(() => (dir = tempDir()));
  afterAll(() => {
    server?.child.kill('SIGKILL');
    dir.remove();
  });

  it('stores every acknowledged callback exactly once and keeps the database intact', async () => {
    const env = testEnv(dir);
    const callbacks = buildSignedCallbacks(SESSIONS);
    const points = killPoints(callbacks.length);
    server = await startServerProcess(env);
    let live: ServerProcess | null = server;
    const inFlightAtKill: number[] = [];
    const exits: Array<number | string> = [];
    const restarts: Array<Promise<void>> = [];
    let restarting = false;

    // SIGKILL the live server a few milliseconds after the chosen acknowledgement, restart it on the
    // same database file, and let the clients find it again.
    const killAndRestart = async (inFlight: () => number) => {
      await sleep(Math.random() * 10);
      const victim = live!;
      inFlightAtKill.push(inFlight());
      victim.child.kill('SIGKILL');
      live = null;
      exits.push(await victim.exited);
      server = live = await startServerProcess(env);
    };

    const result = await sendCallbacks(callbacks, {
      clients: CLIENTS,
      target: () => live?.url ?? null,
      onAck: (f) => {
        if (!restarting && inFlightAtKill.length < points.length && f.acknowledged >= points[inFlightAtKill.length]!) {
          restarting = true;
          restarts.push(killAndRestart(() => f.inFlight).finally(() => (restarting = false)));
        }
      },
    });
    await Promise.all(restarts);

    // A last kill after the final acknowledgement: what was acknowledged must already be on disk.
    server.child.kill('SIGKILL');
    await server.exited;
    server = null;

    const ledger = readLedger(env.DATABASE_PATH!);
    const lost = missingOrDoubled(result.acked, ledger.counts);
    const doubled = [...ledger.counts.values()].filter((n) => n !== 1).length;
    console.log(
      'kill -9: ' +
        JSON.stringify({
          sent: result.sent,
          acknowledged: result.acked.size,
          stored: ledger.stored,
          lost: lost.length,
          storedTwice: doubled,
          kills: inFlightAtKill.length + 1,
          killsUnderLoad: inFlightAtKill.length,
          inFlightAtEachKill: inFlightAtKill,
          attempts: result.attempts,
          droppedConnections: result.connectionFailures,
          integrity: ledger.integrity,
        }),
    );

    expect(result.unexpected).toEqual([]);
    expect(exits).toEqual(Array(KILLS).fill('SIGKILL'));
    // Each kill cut requests off mid-flight, so some had to be repeated.
    expect(inFlightAtKill.every((n) => n > 0)).toBe(true);
    expect(result.connectionFailures).toBeGreaterThan(0);
    // Twilio retries until acknowledged, so in the end every callback is acknowledged …
    expect(result.acked.size).toBe(callbacks.length);
    // … and each acknowledged callback is stored once, with nothing else beside it.
    expect(lost).toEqual([]);
    expect(doubled).toBe(0);
    expect(ledger.stored).toBe(result.acked.size);
    expect(ledger.integrity).toBe('ok');
    // Each session's state is derived from the set of its events, so repeats left it right.
    expect(ledger.sessionStates).toEqual({ stopped: SESSIONS });
  }, 120_000);
});
