import { copyFileSync, existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { buildSignedCallbacks, missingOrDoubled, readLedger, type SignedCallback } from '../helpers/callback-load';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { buildVoiceForm } from '../helpers/twilio-requests';
import { linesWith, postCallback, postVoice, readyz, waitUntil } from '../helpers/webhook-client';

/**
 * The database file is deleted, or replaced by another file, under a running server. SQLite keeps
 * writing to the file it has open, which no longer has a name: without a check every callback
 * would be acknowledged into a file nobody will ever open again.
 */

const REPLACED = 'LEDGER FILE REPLACED OR DELETED';
const REOPENED = 'LEDGER FILE REOPENED';

const callsIn = (file: string, callSids: string[]): number => {
  const db = new Database(file, { readonly: true });
  try {
    const has = db.prepare('SELECT 1 FROM calls WHERE call_sid = ?');
    return callSids.filter((sid) => has.get(sid)).length;
  } finally {
    db.close();
  }
};

/** A copy of the live ledger as `sqlite3 .backup` or VACUUM INTO makes one: one file, no -wal. */
function backUp(file: string, to: string): void {
  const db = new Database(file);
  try {
    db.exec(`VACUUM INTO '${to.replaceAll("'", "''")}'`);
  } finally {
    db.close();
  }
}

/** How an operator restores a backup: copied beside the path, then renamed onto it in one step. */
function restore(backup: string, file: string): void {
  copyFileSync(backup, `${file}.restoring`);
  renameSync(`${file}.restoring`, file);
}

/** Twilio's way: a refused callback is sent again until it is acknowledged. Returns every status it got. */
async function deliver(url: string, cb: SignedCallback): Promise<number[]> {
  const statuses: number[] = [];
  await waitUntil(`callback ${cb.key} acknowledged`, async () => {
    statuses.push((await postCallback(url, cb)).status);
    return statuses.at(-1) === 204;
  });
  return statuses;
}

async function allVoiceAnswered(url: string, n: number) {
  const answers = await Promise.all(Array.from({ length: n }, () => postVoice(url)));
  expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
  for (const a of answers) expect(a.text).toContain('<Siprec');
}

describe('the ledger file is deleted or replaced while the server runs', () => {
  let dir: TempDir;
  let env: Record<string, string>;
  let file: string;
  let server: ServerProcess | undefined;
  const [warmUp, during] = ((all) => [all.slice(0, 10), all.slice(10)])(buildSignedCallbacks(15));

  beforeEach(async () => {
    dir = tempDir();
    env = testEnv(dir);
    file = env.DATABASE_PATH!;
    server = await startServerProcess(env);
    for (const cb of warmUp) expect((await postCallback(server.url, cb)).status).toBe(204);
    expect(await readyz(server.url)).toBe(200);
  });
  afterEach(async () => {
    server?.child.kill('SIGKILL');
    await server?.exited;
    server = undefined;
    dir.remove();
  });

  it('deleted: callbacks 503, readiness 503, logged once, calls still answered; no new ledger is started; a restored backup is reopened', async () => {
    const url = server!.url;
    const backup = dir.file('backup.sqlite');
    backUp(file, backup);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });

    // The call comes first: the voice webhook answers its TwiML whatever the ledger does.
    await allVoiceAnswered(url, 20);
    const refused = await Promise.all(during.map((cb) => postCallback(url, cb)));
    expect(refused.map((r) => [r.status, r.retryAfter])).toEqual(during.map(() => [503, '1']));
    expect(await readyz(url)).toBe(503);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await waitUntil('the replaced-file line in the log', () => linesWith(server!.output(), REPLACED) > 0);

    // Nothing at the path: stay refused, and never make an empty ledger there (that would hide the loss).
    const watchUntil = Date.now() + 3_000;
    while (Date.now() < watchUntil) {
      expect(await readyz(url)).toBe(503);
      expect((await postCallback(url, during[0]!)).status).toBe(503);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(existsSync(file)).toBe(false);

    // An empty file at the path is not a ledger either: it is left as it is, and still refused.
    writeFileSync(file, '');
    await waitUntil('the log says why the empty file is not reopened', () => server!.output().includes('not a siprec-control ledger'));
    expect(await readyz(url)).toBe(503);
    expect(statSync(file).size).toBe(0);

    restore(backup, file);
    await waitUntil('readiness once the backup is back', async () => (await readyz(url)) === 200);
    expect(linesWith(server!.output(), REOPENED)).toBe(1);
    // One incident, one line, however many requests it refused.
    expect(linesWith(server!.output(), REPLACED)).toBe(1);

    // Twilio retries the refused callbacks: now stored, in the restored file.
    const retried = await Promise.all(during.map((cb) => postCallback(url, cb)));
    expect(retried.map((r) => r.status)).toEqual(during.map(() => 204));
    const afterForms = Array.from({ length: 5 }, () => buildVoiceForm());
    for (const form of afterForms) expect((await postVoice(url, form)).text).toContain('<Siprec');

    server!.child.kill('SIGTERM');
    expect(await server!.exited).toBe(0);
    const ledger = readLedger(file);
    const acknowledged = [...warmUp, ...during].map((cb) => cb.key);
    expect(missingOrDoubled(acknowledged, ledger.counts)).toEqual([]);
    expect(ledger.stored).toBe(acknowledged.length);
    expect(ledger.integrity).toBe('ok');
    expect(callsIn(file, afterForms.map((f) => f.CallSid!))).toBe(afterForms.length);
  }, 60_000);

  it('replaced by another ledger (a backup renamed onto the path): detected, reopened, and the old file\'s WAL is never read into the new one', async () => {
    const url = server!.url;
    const backup = dir.file('backup.sqlite');
    backUp(file, backup);
    // Acknowledged after the backup: these live only in the file about to be replaced (and its WAL).
    const [sinceBackup, afterRestore] = ((all) => [all.slice(0, 6), all.slice(6)])(buildSignedCallbacks(8));
    for (const cb of sinceBackup) expect((await postCallback(url, cb)).status).toBe(204);

    restore(backup, file);

    const voice = allVoiceAnswered(url, 10);
    const statuses = (await Promise.all(afterRestore.map((cb) => deliver(url, cb)))).flat();
    await voice;
    expect(statuses.every((s) => s === 204 || s === 503)).toBe(true);
    expect(await readyz(url)).toBe(200);
    await waitUntil('the reopened line in the log', () => linesWith(server!.output(), REOPENED) === 1);
    expect(linesWith(server!.output(), REPLACED)).toBe(1);

    server!.child.kill('SIGTERM');
    expect(await server!.exited).toBe(0);
    const ledger = readLedger(file);
    // The backup's callbacks and those sent since the restore; nothing of the replaced file.
    expect(missingOrDoubled([...warmUp, ...afterRestore].map((cb) => cb.key), ledger.counts)).toEqual([]);
    expect(sinceBackup.filter((cb) => ledger.counts.has(cb.key))).toEqual([]);
    expect(ledger.stored).toBe(warmUp.length + afterRestore.length);
    expect(ledger.integrity).toBe('ok');
    // The replaced file's own WAL is moved aside, named for what it is, never deleted.
    expect(readdirSync(dir.dir).filter((f) => f.includes('.lost-'))).not.toEqual([]);
  }, 60_000);

  it('only -wal and -shm deleted (the "stray journal" clean-up): what was acknowledged survives a crash', async () => {
    const url = server!.url;
    // Commits since the last checkpoint live only in the -wal: deleting it leaves SQLite writing to
    // a log with no name, which nothing reads after a crash. The warm-up's callbacks are there too.
    for (const f of [`${file}-wal`, `${file}-shm`]) rmSync(f);

    const voice = allVoiceAnswered(url, 5);
    for (const cb of during) await deliver(url, cb);
    await voice;

    server!.child.kill('SIGKILL');
    await server!.exited;
    const ledger = readLedger(file);
    expect(missingOrDoubled([...warmUp, ...during].map((cb) => cb.key), ledger.counts)).toEqual([]);
    expect(ledger.integrity).toBe('ok');
    expect(linesWith(server!.output(), REPLACED)).toBe(1);
    expect(linesWith(server!.output(), REOPENED)).toBe(1);
  }, 60_000);
});
