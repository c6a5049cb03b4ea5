import { existsSync, statSync } from 'node:fs';
import http from 'node:http';
import Database from 'better-sqlite3';
import { buildSignedCallbacks, missingOrDoubled, readLedger, sendCallbacks, STATUS_PATH, type SignedCallback } from '../helpers/callback-load';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

const CLIENTS = 16;
const SLOW = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A callback whose body is held back until `finish` is called. It asks for `100 Continue`, so
 * `accepted` resolves once the server has read its headers: from then on the request is in flight
 * on the server, not merely on the wire.
 */
function slowCallback(url: string, cb: SignedCallback) {
  const req = http.request(`${url}${STATUS_PATH}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': Buffer.byteLength(cb.body),
      'x-twilio-signature': cb.signature,
      expect: '100-continue',
    },
  });
  const accepted = new Promise<void>((resolve) => req.once('continue', resolve));
  const response = new Promise<{ status: number; complete: boolean }>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, complete: res.complete }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, complete: false }));
    });
    req.on('error', () => resolve({ status: 0, complete: false }));
  });
  req.flushHeaders();
  return { accepted, finish: () => req.end(cb.body), response };
}

describe('SIGTERM while status callbacks pour in', () => {
  let dir: TempDir;
  let server: ServerProcess | undefined;
  beforeAll(() => (dir = tempDir()));
  afterAll(() => {
    server?.child.kill('SIGKILL');
    dir.remove();
  });

  it('finishes every in-flight request with a 2xx, then exits 0 with the database closed cleanly', async () => {
    const env = testEnv(dir);
    const file = env.DATABASE_PATH!;
    server = await startServerProcess(env);
    const url = server.url;
    const [slowOnes, loadOnes] = ((all) => [all.slice(0, SLOW), all.slice(SLOW)])(buildSignedCallbacks(400));

    let slow: Array<ReturnType<typeof slowCallback>> = [];
    let signalled: Promise<void> | undefined;
    const load = sendCallbacks(loadOnes, {
      clients: CLIENTS,
      target: () => url,
      // After SIGTERM nothing new may be taken; Twilio would retry what got no answer.
      retry: false,
      onAck: (f) => {
        if (signalled || f.acknowledged < 150) return;
        signalled = (async () => {
          slow = slowOnes.map((cb) => slowCallback(url, cb));
          await Promise.all(slow.map((s) => s.accepted));
          server!.child.kill('SIGTERM');
          // The bodies arrive only after the signal: these requests are in flight by any measure.
          await sleep(300);
          for (const s of slow) s.finish();
        })();
      },
    });
    const result = await load;
    await signalled;
    const slowResults = await Promise.all(slow.map((s) => s.response));
    const exit = await server.exited;
    const walLeft = existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0;

    const ledger = readLedger(file);
    const db = new Database(file);
    const checkpoint = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    db.close();
    const acked = new Set([...result.acked, ...slowOnes.filter((_, i) => slowResults[i]!.status === 204).map((cb) => cb.key)]);
    const lost = missingOrDoubled(acked, ledger.counts);
    console.log(
      'SIGTERM under load: ' +
        JSON.stringify({
          sent: result.sent + SLOW,
          acknowledged: acked.size,
          stored: ledger.stored,
          lost: lost.length,
          inFlightAtSignal: SLOW,
          inFlightCompleted: slowResults.filter((r) => r.status === 204 && r.complete).length,
          refusedAfterSignal: result.connectionFailures,
          exitCode: exit,
          walBytesLeft: walLeft,
          integrity: ledger.integrity,
        }),
    );

    expect(slowResults).toEqual(Array(SLOW).fill({ status: 204, complete: true }));
    // Load requests either got a complete 2xx or no answer at all: never a 5xx, never half a response.
    expect(result.unexpected).toEqual([]);
    expect(result.unavailable).toBe(0);
    expect(result.acknowledged + result.connectionFailures).toBe(result.sent);
    expect(exit).toBe(0);
    expect(server.output()).toContain('database closed');
    // The last connection's close checkpointed the WAL into the database file.
    expect(walLeft).toBe(0);
    expect(checkpoint).toEqual([{ busy: 0, log: 0, checkpointed: 0 }]);
    expect(ledger.integrity).toBe('ok');
    expect(lost).toEqual([]);
    expect(ledger.stored).toBe(acked.size);
  }, 60_000);
});
