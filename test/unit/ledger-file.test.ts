import { copyFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ledgerWriteFailedAlert } from '../../src/alerts/messages';
import { openSqliteLedger } from '../../src/store/sqlite/ledger-file';
import type { LedgerLog } from '../../src/store/store';
import { MIGRATIONS_DIR, openDatabase, readMigrations } from '../../src/store/sqlite/open';
import { StoreUnavailableError, type Store } from '../../src/store/store';
import { TEST_ACCOUNT_SID, tempDir, type TempDir } from '../helpers/env';
import { newCallSid } from '../helpers/twilio-requests';

/** The reopening rules of the server's ledger, in one process: what is reopened, what is not, what survives. */

interface Line {
  level: 'error' | 'warn' | 'info';
  msg: string;
  obj: Record<string, unknown>;
}

function recordingLog(): LedgerLog & { lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: Line['level']) => (obj: object, msg: string) => lines.push({ level, msg, obj: obj as Record<string, unknown> });
  return { lines, error: at('error'), warn: at('warn'), info: at('info') };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within 5 s: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pings = (store: Store) => store.ping().then(() => true, () => false);

describe('the server\'s ledger file, watched and reopened', () => {
  let dir: TempDir;
  let file: string;
  let store: Store | undefined;
  let log: ReturnType<typeof recordingLog>;

  const removeLedger = () => {
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  };
  /** A ledger made elsewhere (a backup, another install) put at the path in one rename. */
  const putAtPath = (make: (at: string) => void) => {
    const elsewhere = path.join(dir.dir, 'elsewhere.sqlite');
    make(elsewhere);
    renameSync(elsewhere, file);
  };

  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir.dir, 'ledger.sqlite');
    log = recordingLog();
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    dir.remove();
  });

  it('keeps alerts held while the file was lost, and moves them into the reopened ledger', async () => {
    store = openSqliteLedger(file, { log, retryEveryMs: 20 });
    await store.ping();
    const backup = path.join(dir.dir, 'backup.sqlite');
    const live = new Database(file);
    live.exec(`VACUUM INTO '${backup}'`);
    live.close();
    removeLedger();
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.alerts.list(10)).rejects.toBeInstanceOf(StoreUnavailableError);
    const alert = ledgerWriteFailedAlert({ callSid: newCallSid(), error: new Error('lost'), at: Date.now() });
    // In memory, so it works while the file is lost: the voice route holds its alert here.
    expect(store.alerts.hold(alert, 'not_configured')).toBe(true);

    putAtPath((at) => copyFileSync(backup, at));
    await waitFor('reopened', () => pings(store!));
    expect(await store.alerts.flushHeld(Date.now())).toBe(1);
    const listed = await store.alerts.list(10);
    expect(listed).toEqual([expect.objectContaining({ kind: 'ledger-write-failed', held: false })]);
    expect(log.lines.filter((l) => l.msg.startsWith('LEDGER FILE REPLACED OR DELETED'))).toHaveLength(1);
    expect(log.lines.filter((l) => l.msg.startsWith('LEDGER FILE REOPENED'))).toHaveLength(1);
  });

  it('migrates a ledger restored from before an upgrade when it reopens it', async () => {
    store = openSqliteLedger(file, { log, retryEveryMs: 20 });
    await store.ping();
    const older = path.join(dir.dir, 'older-migrations');
    mkdirSync(older);
    const migrations = readMigrations(MIGRATIONS_DIR);
    for (const m of migrations.slice(0, 2)) copyFileSync(path.join(MIGRATIONS_DIR, m.name), path.join(older, m.name));
    removeLedger();
    putAtPath((at) => openDatabase(at, { migrationsDir: older }).close());

    await waitFor('reopened', () => pings(store!));
    const db = new Database(file, { readonly: true });
    try {
      expect((db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number }).v).toBe(migrations.at(-1)!.version);
    } finally {
      db.close();
    }
  });

  it('does not reopen a ledger newer than this code, and says why once', async () => {
    store = openSqliteLedger(file, { log, retryEveryMs: 20 });
    await store.ping();
    removeLedger();
    putAtPath((at) => {
      const db = openDatabase(at);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, 0)').run('999_future.sql');
      db.close();
    });
    await waitFor('the reason is logged', () => log.lines.some((l) => l.level === 'warn' && String(l.obj.reason).includes('newer than this siprec-control')));
    // Retried every 20 ms, told once.
    await new Promise((r) => setTimeout(r, 200));
    expect(log.lines.filter((l) => String(l.obj.reason).includes('newer than this siprec-control'))).toHaveLength(1);
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('refuses a commit once the -wal and -shm it opened are gone, and reopens the same file with nothing lost', async () => {
    store = openSqliteLedger(file, { log, retryEveryMs: 20 });
    const newCall = (callSid = newCallSid()) => ({ callSid, accountSid: TEST_ACCOUNT_SID, from: null, to: null, direction: null, receivedAt: Date.now() });
    const before = newCall();
    await store.recordRequested(before, []);
    // That commit is in the -wal only (no checkpoint yet): deleting it would lose it at the next crash.
    for (const f of [`${file}-wal`, `${file}-shm`]) rmSync(f);
    await expect(store.recordRequested(newCall(), [])).rejects.toBeInstanceOf(StoreUnavailableError);
    await waitFor('reopened', () => pings(store!));
    // Closing the old connections checkpointed the log they had open into the file, which is still the one at the path.
    expect(await store.getCall(before.callSid)).toMatchObject({ call: { callSid: before.callSid } });
    expect(log.lines.filter((l) => l.msg.startsWith('LEDGER FILE REPLACED OR DELETED'))).toEqual([
      expect.objectContaining({ obj: expect.objectContaining({ reason: expect.stringContaining('-wal') }) }),
    ]);
  });

  it('closes cleanly while the file is lost', async () => {
    store = openSqliteLedger(file, { log, retryEveryMs: 20 });
    await store.ping();
    removeLedger();
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close();
    store = undefined;
  });
});
