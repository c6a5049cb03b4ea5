import Database from 'better-sqlite3';
import { buildSignedCallbacks, missingOrDoubled, readLedger } from '../helpers/callback-load';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { buildVoiceForm } from '../helpers/twilio-requests';
import { counterValue, linesWith, postCallback, postVoice, waitUntil } from '../helpers/webhook-client';

/**
 * Another process holds the database's write lock (a long transaction in a second instance, an
 * operator's sqlite3 shell). Each queued batch of writes waits busy_timeout (5 s) for it, one after
 * the other: without a deadline the 300th caller waited 10 s for its TwiML, and Twilio gives up at 15 s.
 */

/** VOICE_LEDGER_DEADLINE_MS's default. */
const VOICE_DEADLINE_MS = 1500;
/** routes/ledger-deadline.ts */
const CALLBACK_DEADLINE_MS = 4000;
/**
 * Past each deadline, counted from when the server could take the request (see `backlog`): far below
 * the 5 s a locked batch costs, and the 10 s and more the later ones waited without a deadline.
 */
const MARGIN_MS = 2000;
const FAILED = 'LEDGER WRITE FAILED';

/**
 * A voice webhook signed for another URL: parsed and verified like the others, refused before any
 * ledger write. Its time is the part of an answer's that is the machine's load, not the ledger's.
 */
async function refusedVoice(url: string): Promise<number> {
  const answer = await postVoice(url, buildVoiceForm(), 'https://elsewhere.example.com');
  expect(answer.status).toBe(403);
  return answer.ms;
}

const quantiles = (ms: number[]) => [0.5, 0.9, 1].map((at) => Math.round([...ms].sort((a, b) => a - b)[Math.floor(at * (ms.length - 1))]!));

describe('while another process holds the ledger\'s write lock', () => {
  let dir: TempDir;
  let server: ServerProcess | undefined;
  let release: (() => void) | undefined;

  beforeEach(() => (dir = tempDir()));
  afterEach(async () => {
    release?.();
    release = undefined;
    server?.child.kill('SIGKILL');
    await server?.exited;
    server = undefined;
    dir.remove();
  });

  it('answers 300 concurrent calls with TwiML by the deadline and callbacks 503 by theirs; afterwards each call is stored or counted failed, never both', async () => {
    const env = testEnv(dir);
    server = await startServerProcess(env);
    const url = server.url;
    const [first] = buildSignedCallbacks(1);
    expect((await postCallback(url, first!)).status).toBe(204);

    const locker = new Database(env.DATABASE_PATH);
    locker.exec('BEGIN IMMEDIATE');
    release = () => {
      locker.exec('ROLLBACK');
      locker.close();
    };

    const forms = Array.from({ length: 300 }, () => buildVoiceForm());
    const callbacks = buildSignedCallbacks(100);
    const [voice, refused, probes] = await Promise.all([
      Promise.all(forms.map((form) => postVoice(url, form))),
      Promise.all(callbacks.map((cb) => postCallback(url, cb))),
      // Sent behind the burst: answered once the server has taken in what came before them.
      Promise.all(Array.from({ length: 10 }, () => refusedVoice(url))),
    ]);

    // On a loaded machine taking in 500 requests costs from under one to several seconds, before any
    // deadline starts; the deadlines are measured from there.
    const backlog = Math.max(...probes);
    const slowestVoice = Math.max(...voice.map((a) => a.ms));
    const slowestCallback = Math.max(...refused.map((a) => a.ms));
    console.log(`locked ledger: ${JSON.stringify({ backlogMs: Math.round(backlog), calls: voice.length, voiceMs: quantiles(voice.map((a) => a.ms)), callbacks: refused.length, callbackMs: quantiles(refused.map((a) => a.ms)) })}`);
    expect(voice.map((a) => a.status)).toEqual(voice.map(() => 200));
    for (const a of voice) expect(a.text).toContain('<Start><Siprec');
    expect(slowestVoice).toBeLessThan(backlog + VOICE_DEADLINE_MS + MARGIN_MS);
    expect(refused.map((a) => [a.status, a.retryAfter])).toEqual(refused.map(() => [503, '1']));
    expect(slowestCallback).toBeLessThan(backlog + CALLBACK_DEADLINE_MS + MARGIN_MS);

    // The first locked batch gives up after busy_timeout: its calls are counted failed, on their own time.
    await waitUntil('a voice write fails after its busy timeout', () => linesWith(server!.output(), FAILED) > 0, 20_000);
    release();
    release = undefined;

    const callSids = forms.map((f) => f.CallSid!);
    const failedSids = () => {
      const lines = server!.output().split('\n').filter((l) => l.includes(FAILED));
      return callSids.filter((sid) => lines.some((l) => l.includes(sid)));
    };
    const storedSids = () => {
      const db = new Database(env.DATABASE_PATH, { readonly: true });
      try {
        const has = db.prepare('SELECT 1 FROM calls WHERE call_sid = ?');
        return callSids.filter((sid) => has.get(sid));
      } finally {
        db.close();
      }
    };
    await waitUntil('every call stored or counted failed', () => new Set([...failedSids(), ...storedSids()]).size === callSids.length, 30_000);
    const failed = failedSids();
    const stored = storedSids();
    console.log(`locked ledger afterwards: ${JSON.stringify({ stored: stored.length, countedFailed: failed.length })}`);
    expect(stored.filter((sid) => failed.includes(sid))).toEqual([]);
    expect(stored.length + failed.length).toBe(callSids.length);
    // Writes that committed after their call was answered are not failures.
    expect(stored.length).toBeGreaterThan(0);
    expect(failed.length).toBeGreaterThan(0);
    // Each failed call counted and logged once, whether it failed before its answer or after.
    expect(await counterValue(url, 'siprec_ledger_write_failures_total')).toBe(failed.length);
    expect(linesWith(server.output(), FAILED)).toBe(failed.length);

    // Twilio retries every refused callback. A write that committed after its 503 makes the retry a
    // duplicate (same SiprecSid, event and Timestamp): acknowledged, stored once.
    const retried = await Promise.all(callbacks.map((cb) => postCallback(url, cb)));
    expect(retried.map((a) => a.status)).toEqual(callbacks.map(() => 204));

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const ledger = readLedger(env.DATABASE_PATH!);
    const acknowledged = [first!, ...callbacks].map((cb) => cb.key);
    expect(missingOrDoubled(acknowledged, ledger.counts)).toEqual([]);
    expect(ledger.stored).toBe(acknowledged.length);
    expect(ledger.integrity).toBe('ok');
  }, 90_000);
});
