import Database from 'better-sqlite3';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
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

/** fsync of a file, or of a folder so that a rename in it survives a power cut. */
function syncPath(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

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
    // The copy holds callers' numbers: made here, before SQLite writes a byte, readable by its owner
    // only (SQLite would create it 0644 less the umask; its -wal and -shm take the file's mode). 'wx':
    // never through a file or link someone else left at that name.
    rmSync(partial, { force: true });
    closeSync(openSync(partial, 'wx', 0o600));
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
    syncPath(partial);
    renameSync(partial, target);
    syncPath(path.dirname(target)); // "backed up" must still hold after a power cut
    return { ...result, bytes: statSync(target).size };
  } catch (err) {
    removePartial();
    throw err;
  } finally {
    db.close();
  }
}
