import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createSqliteStore } from '../../src/store/sqlite';
import { MIGRATIONS_DIR, openDatabase, readMigrations } from '../../src/store/sqlite/open';
import { TEST_ACCOUNT_SID, tempDir, type TempDir } from '../helpers/env';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

const DAY = 86_400_000;

// A ledger written before migrations/sqlite/007 has no last activity on its calls: the migration must
// derive it from what the ledger holds, or the first purge after the upgrade would count from
// created_at and delete calls that are still in use.
describe('migration 007 on an existing ledger', () => {
  let dir: TempDir;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => dir.remove());

  it('sets each call’s last activity from its newest session or event, and the purge counts from it', async () => {
    const before = dir.file('before-007');
    mkdirSync(before);
    for (const m of readMigrations(MIGRATIONS_DIR).filter((m) => m.version < 7)) copyFileSync(path.join(MIGRATIONS_DIR, m.name), path.join(before, m.name));
    const file = dir.file('ledger.sqlite');
    const now = Date.now();
    const old = now - 100 * DAY;
    const db = openDatabase(file, { migrationsDir: before });
    const call = db.prepare('INSERT INTO calls (call_sid, account_sid, created_at) VALUES (?, ?, ?)');
    const session = db.prepare(`INSERT INTO siprec_sessions (call_sid, name, siprec_sid, state, created_at, updated_at) VALUES (?, 'rec', ?, 'stopped', ?, ?)`);
    const event = db.prepare(`INSERT INTO siprec_events (session_id, siprec_sid, event, timestamp_raw, received_at, payload) VALUES (?, ?, 'siprec-stopped', ?, ?, '{}')`);
    const seed = (lastEventAt: number) => {
      const callSid = newCallSid();
      const siprecSid = newSiprecSid();
      call.run(callSid, TEST_ACCOUNT_SID, old);
      event.run(session.run(callSid, siprecSid, old, old).lastInsertRowid, siprecSid, String(lastEventAt), lastEventAt);
      return callSid;
    };
    const idle = seed(old);
    const recent = seed(now - 3_600_000);
    const bare = newCallSid();
    call.run(bare, TEST_ACCOUNT_SID, old); // no sessions at all
    db.close();

    const upgraded = openDatabase(file);
    const activity = Object.fromEntries(
      (upgraded.prepare('SELECT call_sid, last_activity_at FROM calls').all() as Array<{ call_sid: string; last_activity_at: number }>).map((r) => [r.call_sid, r.last_activity_at]),
    );
    expect(activity).toEqual({ [idle]: old, [recent]: now - 3_600_000, [bare]: old });

    const store = createSqliteStore(upgraded);
    try {
      expect(await store.purgeOlderThan(now - 90 * DAY, 500, now)).toMatchObject({ calls: 2, sessions: 1, events: 1 });
      expect((upgraded.prepare('SELECT call_sid FROM calls').all() as Array<{ call_sid: string }>).map((r) => r.call_sid)).toEqual([recent]);
    } finally {
      await store.close();
    }
  });
});
