import pino from 'pino';
import { openStore } from '../../src/store';
import type { IncomingEvent, Store } from '../../src/store/store';
import { runCli } from '../helpers/cli-process';
import { TEST_ACCOUNT_SID, tempDir, testEnv, type TempDir } from '../helpers/env';
import { describeWithPostgres, freshPgDatabase, type PgDatabase } from '../helpers/pg';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

const log = pino({ level: 'silent' });
const POLICY = { initialState: 'pending', burst: { count: 2, windowMs: 300_000 } } as const;

/** A SQLite ledger written through the real store: calls, sessions in every state, events, alerts. */
async function writeSqliteLedger(store: Store, calls: number): Promise<string[]> {
  const sids: string[] = [];
  const t0 = Date.parse('2026-11-30T10:00:00Z');
  for (let i = 0; i < calls; i += 1) {
    const callSid = newCallSid();
    sids.push(callSid);
    const at = t0 + i * 1000;
    await store.recordRequested(
      { callSid, accountSid: TEST_ACCOUNT_SID, from: '+15550001111', to: '+15550002222', direction: 'inbound', receivedAt: at, route: 'routes[0]' },
      [
        { name: 'gridspace', connectorName: 'Gridspace_1', track: 'both_tracks', parameters: [{ name: 'Team', value: 'sales' }] },
        { name: 'compliance', connectorName: 'Compliance_SRS', track: 'inbound_track', parameters: [] },
      ],
    );
    const event = (name: string, siprecSid: string, kind: string, s: number, error?: string): IncomingEvent => ({
      accountSid: TEST_ACCOUNT_SID,
      callSid,
      siprecSid,
      siprecName: name,
      event: kind,
      timestampRaw: new Date(at + s * 1000).toUTCString(),
      occurredAt: at + s * 1000,
      receivedAt: at + s * 1000 + 50,
      errorCode: error ? '64101' : null,
      errorMessage: error ?? null,
      payload: { CallSid: callSid, SiprecSid: siprecSid, SiprecEvent: kind },
    });
    const g = newSiprecSid();
    await store.applyEvent(event('gridspace', g, 'siprec-started', 1), POLICY);
    if (i % 3 === 0) await store.applyEvent(event('gridspace', g, 'siprec-stopped', 30), POLICY);
    if (i % 4 === 1) await store.applyEvent(event('compliance', newSiprecSid(), 'siprec-error', 2, 'connector refused'), POLICY);
  }
  return sids;
}

const withoutIds = <T extends { id: string }>(alerts: T[]) => alerts.map(({ id: _id, ...rest }) => rest);

describeWithPostgres('siprec-control copy-ledger --from <sqlite file>', () => {
  let dir: TempDir;
  let pg: PgDatabase;
  beforeEach(async () => {
    dir = tempDir();
    pg = await freshPgDatabase();
  });
  afterEach(async () => {
    await pg.drop();
    dir.remove();
  });

  it('copies calls, sessions, events and alerts, checks the counts, and a rerun copies nothing twice', async () => {
    const file = dir.file('ledger.sqlite');
    const sqlite = await openStore({ kind: 'sqlite', path: file }, { log, mode: 'cli', mustExist: false });
    const sids = await writeSqliteLedger(sqlite, 120);
    const env = { ...testEnv(dir), DATABASE_URL: pg.url };
    delete (env as Record<string, string | undefined>).DATABASE_PATH;

    const first = await runCli(['copy-ledger', '--from', file], env, dir.dir);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/calls\s+120 in the file, 120 copied, 120 present/);
    expect(first.stdout).toMatch(/sessions\s+240 in the file, 240 copied, 240 present/);
    expect(first.stdout).toMatch(/counts match/);

    const target = await openStore({ kind: 'postgres', url: pg.url, poolSize: 2 }, { log, mode: 'cli' });
    try {
      // What an operator reads is the same on both: every call, the session list, alerts and stats.
      for (const callSid of sids) expect(await target.getCall(callSid)).toEqual(await sqlite.getCall(callSid));
      const listing = { limit: 500, withTotal: true };
      expect((await target.listSessions(listing)).sessions).toEqual((await sqlite.listSessions(listing)).sessions);
      expect(withoutIds(await target.alerts.list(100))).toEqual(withoutIds(await sqlite.alerts.list(100)));
      const now = Date.parse('2026-11-30T11:00:00Z');
      expect(await target.getStats(now)).toEqual(await sqlite.getStats(now));
      expect(await target.countSessionsByState()).toEqual(await sqlite.countSessionsByState());

      const again = await runCli(['copy-ledger', '--from', file], env, dir.dir);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/calls\s+120 in the file, 0 copied, 120 present/);
      expect(again.stdout).toMatch(/events\s+\d+ in the file, 0 copied/);
      expect(await target.countSessionsByState()).toEqual(await sqlite.countSessionsByState());
    } finally {
      await target.close();
      await sqlite.close();
    }
  });

  it('refuses a missing file and a SQLite target, changing nothing', async () => {
    const env = { ...testEnv(dir), DATABASE_URL: pg.url };
    delete (env as Record<string, string | undefined>).DATABASE_PATH;
    const missing = await runCli(['copy-ledger', '--from', dir.file('nope.sqlite')], env, dir.dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no SQLite ledger at .*nope\.sqlite/);

    const file = dir.file('ledger.sqlite');
    const sqlite = await openStore({ kind: 'sqlite', path: file }, { log, mode: 'cli', mustExist: false });
    await sqlite.close();
    const toSqlite = await runCli(['copy-ledger', '--from', file], testEnv(dir), dir.dir);
    expect(toSqlite.code).toBe(2);
    expect(toSqlite.stderr).toMatch(/set DATABASE_URL/);
  });
});
