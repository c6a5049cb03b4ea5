import { existsSync, readdirSync } from 'node:fs';
import { openDatabase } from '../../src/store/sqlite/open';
import { runCli } from '../helpers/cli-process';
import { TEST_ACCOUNT_SID, tempDir, testEnv, type TempDir } from '../helpers/env';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

const DAY = 86_400_000;

describe('siprec-control purge', () => {
  let dir: TempDir;
  let env: Record<string, string>;
  beforeEach(() => {
    dir = tempDir();
    env = testEnv(dir);
    const db = openDatabase(env.DATABASE_PATH!);
    const call = db.prepare('INSERT INTO calls (call_sid, account_sid, created_at) VALUES (?, ?, ?)');
    const session = db.prepare(`INSERT INTO siprec_sessions (call_sid, name, siprec_sid, state, created_at, updated_at) VALUES (?, 'rec', ?, 'stopped', ?, ?)`);
    const event = db.prepare(`INSERT INTO siprec_events (session_id, siprec_sid, event, timestamp_raw, received_at, payload) VALUES (?, ?, 'siprec-started', 't', ?, '{}')`);
    for (const ageDays of [100, 100, 100, 10]) {
      const at = Date.now() - ageDays * DAY;
      const callSid = newCallSid();
      const siprecSid = newSiprecSid();
      call.run(callSid, TEST_ACCOUNT_SID, at);
      event.run(session.run(callSid, siprecSid, at, at).lastInsertRowid, siprecSid, at);
    }
    db.close();
  });
  afterEach(() => dir.remove());

  const remaining = () => {
    const db = openDatabase(env.DATABASE_PATH!);
    const n = (t: string) => (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    const counts = [n('calls'), n('siprec_sessions'), n('siprec_events')];
    db.close();
    return counts;
  };

  it('deletes calls older than --older-than with their sessions and events, and keeps younger ones', async () => {
    const { code, stdout } = await runCli(['purge', '--older-than', '90d'], env, dir.dir);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^purged 3 calls, 3 sessions, 3 events and 0 alerts with no activity since \d{4}-/);
    expect(remaining()).toEqual([1, 1, 1]);
  });

  it('counts a call’s age from its last event, not from when it was first received', async () => {
    const db = openDatabase(env.DATABASE_PATH!);
    const callSid = newCallSid();
    const siprecSid = newSiprecSid();
    const created = Date.now() - 100 * DAY;
    db.prepare('INSERT INTO calls (call_sid, account_sid, created_at) VALUES (?, ?, ?)').run(callSid, TEST_ACCOUNT_SID, created);
    const session = db.prepare(`INSERT INTO siprec_sessions (call_sid, name, siprec_sid, state, created_at, updated_at) VALUES (?, 'rec', ?, 'stopped', ?, ?)`).run(callSid, siprecSid, created, created);
    db.prepare(`INSERT INTO siprec_events (session_id, siprec_sid, event, timestamp_raw, received_at, payload) VALUES (?, ?, 'siprec-stopped', 't', ?, '{}')`).run(session.lastInsertRowid, siprecSid, Date.now() - DAY);
    db.close();
    const { code } = await runCli(['purge', '--older-than', '90d'], env, dir.dir);
    expect(code).toBe(0);
    expect(remaining()).toEqual([2, 2, 2]);
  });

  it('counts in the singular when there is one of a kind', async () => {
    const { code, stdout } = await runCli(['purge', '--older-than', '50d'], env, dir.dir);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^purged 3 calls, 3 sessions, 3 events and 0 alerts with no activity since \S+ \(1 batch\)\n$/);
    const again = await runCli(['purge', '--older-than', '5d'], env, dir.dir);
    expect(again.stdout).toMatch(/^purged 1 call, 1 session, 1 event and 0 alerts with no activity since \S+ \(1 batch\)\n$/);
  });

  it.each([
    ['a mistyped file name', (p: string) => p.replace(/ledger\.sqlite$/, 'ledgr.sqlite')],
    ['a folder that does not exist', (p: string) => p.replace(/ledger\.sqlite$/, 'no-such-folder/ledger.sqlite')],
  ])('refuses %s in DATABASE_PATH with exit 1, and creates nothing', async (_what, mistype) => {
    const missing = mistype(env.DATABASE_PATH!);
    const before = readdirSync(dir.dir).sort();
    const { code, stdout, stderr } = await runCli(['purge', '--older-than', '90d'], { ...env, DATABASE_PATH: missing }, dir.dir);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(`siprec-control purge: no ledger at DATABASE_PATH ${missing}: check the path (the server creates the file on its first start; this command never does)\n`);
    expect(existsSync(missing)).toBe(false);
    expect(readdirSync(dir.dir).sort()).toEqual(before);
    expect(remaining()).toEqual([4, 4, 4]);
  });

  it('uses RETENTION_DAYS when no age is given', async () => {
    const { code } = await runCli(['purge'], { ...env, RETENTION_DAYS: '5' }, dir.dir);
    expect(code).toBe(0);
    expect(remaining()).toEqual([0, 0, 0]);
  });

  it.each([
    [['purge', '--older-than', 'ninety'], /--older-than must be a positive age such as 90d/],
    [['purge'], /give --older-than, or set RETENTION_DAYS/],
    [['purge', '--older', '9d'], /Unknown option/],
  ])('refuses %j with exit 2 and deletes nothing', async (args, message) => {
    const { code, stderr } = await runCli(args, env, dir.dir);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(remaining()).toEqual([4, 4, 4]);
  });
});
