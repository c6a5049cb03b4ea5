import Database from 'better-sqlite3';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

export interface BackupResult {
  pages: number;
  bytes: number;
  calls: number;
  sessions: number;
  events: number;
}

export class BackupRefused extends Error {
  override name = 'BackupRefused';
}

const SIDE_FILES = ['-journal', '-wal', '-shm'];

const sameFile = (a: string, b: string) => {
  const [x, y] = [statSync(a), statSync(b)];
  return x.dev === y.dev && x.ino === y.ino;
};

/**
 * Copies the ledger at `source` to `target` with SQLite's online backup API, safe beside a running
 * server. All pages are copied in one step: a step-by-step copy restarts whenever another process
 * writes between steps, so under steady load it might never finish. One step reads one WAL snapshot,
 * which writers do not wait for. The copy is written beside `target`, checked with integrity_check,
 * and renamed into place, so `target` is never a partial file.
 */
export async function backupLedger(source: string, target: string, options: { force?: boolean } = {}): Promise<BackupResult> {
  if (!existsSync(source)) throw new BackupRefused(`no ledger at ${source} (DATABASE_PATH); nothing to back up`);
  if (!existsSync(path.dirname(target))) throw new BackupRefused(`the folder ${path.dirname(target)} does not exist`);
  if (existsSync(target) && sameFile(target, source)) throw new BackupRefused(`${target} is the ledger itself`);
  if (existsSync(target) && !options.force) throw new BackupRefused(`${target} exists; pass --force to replace it`);
  // A -wal beside the target belongs to a database someone may have open; renaming over it would pair
  // the copy with another database's log.
  const busy = SIDE_FILES.map((s) => target + s).find((f) => existsSync(f));
  if (busy) throw new BackupRefused(`${busy} exists: ${target} looks like a database in use; pick another file`);

  const partial = path.join(path.dirname(target), `.${path.basename(target)}.partial-${process.pid}`);
  const removePartial = () => {
    for (const f of [partial, ...SIDE_FILES.map((s) => partial + s)]) rmSync(f, { force: true });
  };
  // fileMustExist: a typo must not create an empty ledger. No pragmas: the server's file stays as it is.
  const db = new Database(source, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const { totalPages } = await db.backup(partial, { progress: () => 0x7fffffff });
    const copy = new Database(partial, { fileMustExist: true });
    let result: BackupResult;
    try {
      const integrity = copy.pragma('integrity_check', { simple: true });
      if (integrity !== 'ok') throw new Error(`the copy failed integrity_check: ${String(integrity)}`);
      const count = (table: string) => (copy.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number) ?? 0;
      result = { pages: totalPages, bytes: 0, calls: count('calls'), sessions: count('siprec_sessions'), events: count('siprec_events') };
      // A copy in rollback-journal mode is one self-contained file: nothing to carry beside it.
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    renameSync(partial, target);
    return { ...result, bytes: statSync(target).size };
  } catch (err) {
    removePartial();
    throw err;
  } finally {
    db.close();
  }
}
