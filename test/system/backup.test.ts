import Database from 'better-sqlite3';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { CLI, runCli, type CliRun } from '../helpers/cli-process';
import { runChild } from '../helpers/checkout-copy';
import { buildSignedCallbacks, missingOrDoubled, readLedger, STATUS_PATH } from '../helpers/callback-load';
import { TEST_ACCOUNT_SID, tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { createSqliteStore } from '../../src/store/sqlite';
import { openDatabase } from '../../src/store/sqlite/open';

const SEEDED_CALL = 'CA00000000000000000000000000000001';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A ledger with the real schema and one call in it, written through the store as the server writes. */
async function seedLedger(file: string): Promise<void> {
  const store = createSqliteStore(openDatabase(file));
  await store.recordRequested(
    { callSid: SEEDED_CALL, accountSid: TEST_ACCOUNT_SID, from: '+14155550100', to: '+15550001111', direction: 'inbound', receivedAt: Date.now() },
    [{ name: 'gridspace', connectorName: 'Gridspace_1', track: 'both_tracks', parameters: [] }],
  );
  await store.close();
}

describe('siprec-control backup <file>', () => {
  let dir: TempDir;
  let server: ServerProcess | undefined;
  beforeEach(() => (dir = tempDir()));
  afterEach(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    server = undefined;
    dir.remove();
  });

  const backup = (args: string[], env = testEnv(dir)): Promise<CliRun> => runCli(['backup', ...args], env, dir.dir);

  it('copies the ledger into a file that passes integrity_check and holds its rows', async () => {
    const env = testEnv(dir);
    await seedLedger(env.DATABASE_PATH!);
    const run = await backup([dir.file('copy.sqlite')], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^backed up .+ledger\.sqlite to .+copy\.sqlite: \d+ pages \([\d.]+ MiB\), 1 call, 1 session, 0 events; integrity_check ok\n$/);
    const copy = new Database(dir.file('copy.sqlite'), { readonly: true });
    try {
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(copy.prepare('SELECT call_sid FROM calls').pluck().all()).toEqual([SEEDED_CALL]);
    } finally {
      copy.close();
    }
  });

  it('makes the copy readable by its owner only (0600), whatever the umask: it holds callers\' numbers', async () => {
    const env = testEnv(dir);
    await seedLedger(env.DATABASE_PATH!);
    const previous = process.umask(0o022); // the usual umask, which leaves a new file world-readable
    let run: CliRun;
    try {
      run = await backup([dir.file('copy.sqlite')], env);
    } finally {
      process.umask(previous);
    }
    expect(run.code).toBe(0);
    expect((statSync(dir.file('copy.sqlite')).mode & 0o777).toString(8)).toBe('600');
    expect(readdirSync(dir.dir).filter((f) => f.includes('copy.sqlite'))).toEqual(['copy.sqlite']);
  });

  it("runs as the README's systemd recipe has it: node --env-file with the unit's file, DATABASE_PATH from the environment winning", async () => {
    const env = testEnv(dir);
    await seedLedger(env.DATABASE_PATH!);
    // The unit's EnvironmentFile holds .env.example's DATABASE_PATH; the unit's Environment= line wins.
    const lines = Object.entries({ ...env, DATABASE_PATH: dir.file('not-the-ledger.sqlite') }).map(([k, v]) => `${k}=${v}`);
    writeFileSync(dir.file('env'), `${lines.join('\n')}\n`);
    const run = await runChild(process.execPath, [`--env-file=${dir.file('env')}`, CLI, 'backup', dir.file('copy.sqlite')], {
      cwd: dir.dir,
      env: { PATH: process.env.PATH ?? '', DATABASE_PATH: env.DATABASE_PATH! },
    });
    expect(run.output).toMatch(/^backed up .+ledger\.sqlite to .+copy\.sqlite: .*1 call, 1 session/);
    expect(run.code).toBe(0);
    expect(existsSync(dir.file('not-the-ledger.sqlite'))).toBe(false);
  });

  it('refuses a missing ledger with exit 1, and creates neither the ledger nor the copy', async () => {
    const env = testEnv(dir, undefined, { DATABASE_PATH: dir.file('typo/ledger.sqlite') });
    const run = await backup([dir.file('copy.sqlite')], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`no ledger at ${dir.file('typo/ledger.sqlite')} (DATABASE_PATH)`);
    expect(existsSync(dir.file('typo'))).toBe(false);
    expect(existsSync(dir.file('copy.sqlite'))).toBe(false);
  });

  it('refuses to overwrite an existing file unless --force', async () => {
    const env = testEnv(dir);
    await seedLedger(env.DATABASE_PATH!);
    writeFileSync(dir.file('copy.sqlite'), 'precious');
    const refused = await backup([dir.file('copy.sqlite')], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${dir.file('copy.sqlite')} exists; pass --force to replace it`);
    expect(readFileSync(dir.file('copy.sqlite'), 'utf8')).toBe('precious');

    const forced = await backup([dir.file('copy.sqlite'), '--force'], env);
    expect(forced.code).toBe(0);
    expect(readLedger(dir.file('copy.sqlite')).integrity).toBe('ok');
  });

  it('refuses to write over the ledger itself', async () => {
    const env = testEnv(dir);
    await seedLedger(env.DATABASE_PATH!);
    const run = await backup([env.DATABASE_PATH!, '--force'], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is the ledger itself');
    expect(readLedger(env.DATABASE_PATH!).integrity).toBe('ok');
  });

  it.each([
    [[], /give the file to write the backup to/],
    [['a.sqlite', 'b.sqlite'], /give one file, not 2/],
    [['--bogus', 'a.sqlite'], /Unknown option '--bogus'/],
  ])('%j is a usage error (exit 2)', async (args, problem) => {
    const run = await backup(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(problem);
    expect(run.stderr).toContain('Usage: siprec-control backup <file> [--force]');
  });

  it('prints its usage with an example on --help', async () => {
    const run = await backup(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: siprec-control backup <file> [--force]');
    expect(run.stdout).toMatch(/Example:\n {2}\S/);
  });

  it('is consistent while the server takes callbacks: every callback acknowledged before it began is in the copy', async () => {
    const env = testEnv(dir);
    server = await startServerProcess(env);
    const base = server.url;
    const ackedAt = new Map<string, number>();
    let stop = false;
    const unexpected: string[] = [];
    const deadline = Date.now() + 60_000;

    // Four clients, each sending a fresh session's started and stopped callbacks until told to stop.
    const client = async () => {
      for (let i = 0; i < 5_000 && !stop && Date.now() < deadline; i++) {
        for (const cb of buildSignedCallbacks(1)) {
          const res = await fetch(base + STATUS_PATH, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': cb.signature },
            body: cb.body,
          });
          await res.arrayBuffer();
          if (res.status === 204) ackedAt.set(cb.key, Date.now());
          else unexpected.push(`${res.status} for ${cb.key}`);
        }
      }
    };
    const load = Promise.all([client(), client(), client(), client()]);

    while (ackedAt.size < 200 && Date.now() < deadline) await sleep(10);
    const began = Date.now();
    const ackedBefore = [...ackedAt].filter(([, at]) => at < began).map(([key]) => key);
    const run = await backup([dir.file('online.sqlite')], env);
    const ended = Date.now();
    // Keep the load up a little past the backup, so the copy was taken under load from start to end.
    while ([...ackedAt.values()].filter((at) => at > ended).length < 20 && Date.now() < deadline) await sleep(10);
    stop = true;
    await load;

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const ackedDuring = [...ackedAt.values()].filter((at) => at >= began && at <= ended).length;
    const copy = readLedger(dir.file('online.sqlite'));
    process.stdout.write(
      `backup under load: ${ackedBefore.length} acknowledged before it began, ${ackedDuring} during it (${ended - began} ms), copy holds ${copy.stored} events\n`,
    );
    expect(unexpected).toEqual([]);
    expect(ackedBefore.length).toBeGreaterThanOrEqual(200);
    expect(ackedDuring).toBeGreaterThan(0);
    expect(copy.integrity).toBe('ok');
    expect(missingOrDoubled(ackedBefore, copy.counts)).toEqual([]);
    // A snapshot, not a blend: whatever it holds beyond that is whole sessions' events the live ledger has too.
    const live = readLedger(env.DATABASE_PATH!);
    expect([...copy.counts.keys()].filter((k) => live.counts.get(k) !== 1)).toEqual([]);
  }, 90_000);
});
