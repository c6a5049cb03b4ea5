import Database from 'better-sqlite3';
import { writeFileSync, mkdirSync, cpSync } from 'node:fs';
import { MIGRATIONS_DIR, openDatabase, readMigrations } from '../../src/store/sqlite/open';
import { tempDir, type TempDir } from '../helpers/env';

describe('openDatabase', () => {
  let dir: TempDir;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => dir.remove());

  it('creates the folder, applies every migration once and records it', () => {
    const file = dir.file('nested/deeper/ledger.sqlite');
    openDatabase(file).close();
    const db = openDatabase(file);
    const applied = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
    expect(applied).toEqual(readMigrations(MIGRATIONS_DIR).map((m) => ({ version: m.version, name: m.name })));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    db.close();
  });

  it('refuses a database newer than the code with a clear message', () => {
    const file = dir.file('ledger.sqlite');
    openDatabase(file).close();
    const raw = new Database(file);
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, 0)').run('999_future.sql');
    raw.close();
    expect(() => openDatabase(file)).toThrow(/schema version 999, newer than this siprec-control knows/);
  });

  it('rolls back a migration that fails halfway and records nothing for it', () => {
    const migrations = dir.file('migrations');
    mkdirSync(migrations);
    cpSync(MIGRATIONS_DIR, migrations, { recursive: true });
    writeFileSync(`${migrations}/900_broken.sql`, 'CREATE TABLE half_done (x INTEGER);\nTHIS IS NOT SQL;');
    const file = dir.file('ledger.sqlite');
    expect(() => openDatabase(file, { migrationsDir: migrations })).toThrow(/syntax error/);
    const raw = new Database(file);
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'half_done'").all()).toEqual([]);
    expect(raw.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: readMigrations(MIGRATIONS_DIR).at(-1)!.version });
    raw.close();
  });
});
