import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { readMigrations, SchemaTooNewError } from '../migrations';
import { identityAt, type OpenedFile } from './file-identity';

export const MIGRATIONS_DIR = path.join(__dirname, '..', '..', '..', 'migrations', 'sqlite');

export interface OpenOptions {
  /** FULL (default): a commit survives power loss. NORMAL: WAL commits since the last checkpoint may be lost. */
  synchronous?: 'FULL' | 'NORMAL';
  busyTimeoutMs?: number;
  migrationsDir?: string;
  /** false for a second connection to a file another connection has already migrated. */
  migrate?: boolean;
  /** Fail rather than create the file: where a missing ledger must be noticed, not replaced by an empty one. */
  mustExist?: boolean;
}

export type { OpenedFile };
// Older imports of these from here keep working.
export { readMigrations, SchemaTooNewError };

const opened = new WeakMap<Database.Database, OpenedFile>();

/** What `db` opened, if openDatabase opened it on a file. */
export const openedFile = (db: Database.Database): OpenedFile | undefined => opened.get(db);

/** Opens the database file (creating its folder), sets its pragmas and (unless told not to) applies pending migrations. */
export function openDatabase(file: string, options: OpenOptions = {}): Database.Database {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file, { fileMustExist: options.mustExist === true });
  try {
    // Looked at as soon as SQLite has opened it, and again once ready: a file swapped in between
    // (during the migrations, say) would otherwise pass for the one open, and never be noticed.
    const identity = file === ':memory:' ? null : identityAt(file);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    // Two processes share the file during a rolling restart: wait for the other's write to end.
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    db.pragma('foreign_keys = ON');
    if (options.migrate !== false) migrate(db, options.migrationsDir ?? MIGRATIONS_DIR);
    if (identity) {
      // A fresh or rollback-mode file has no -wal or -shm until its first read: make them now, so
      // that they are known (and guarded, and never taken for another file's after a loss).
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      const now = identityAt(file);
      if (now !== identity) throw new Error(`the ledger file ${file} was replaced while it was being opened (${identity}, then ${now})`);
      opened.set(db, { path: file, identity, wal: identityAt(`${file}-wal`), shm: identityAt(`${file}-shm`) });
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}


export function migrate(db: Database.Database, dir: string): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
  const migrations = readMigrations(dir);
  const latest = migrations.at(-1)?.version ?? 0;
  const applied = () => (db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  const current = applied();
  if (current > latest) throw new SchemaTooNewError(current, latest);
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of migrations) {
    if (m.version <= current) continue;
    // exec() alone would leave a half-applied file behind on error; the transaction rolls it back.
    db.transaction(() => {
      // Another process booting beside us may have applied it while we waited for the lock.
      if (applied() >= m.version) return;
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    }).immediate();
  }
}
