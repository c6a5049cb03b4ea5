import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** A numbered SQL file of migrations/sqlite/ or migrations/postgres/ (the same numbers in both). */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations in `dir`, in version order: NNN_name.sql; other files are not migrations. */
export function readMigrations(dir: string): Migration[] {
  return readdirSync(dir)
    .flatMap((file) => {
      const m = /^(\d+)_[\w-]+\.sql$/.exec(file);
      return m ? [{ version: Number(m[1]), name: file, sql: readFileSync(path.join(dir, file), 'utf8') }] : [];
    })
    .sort((a, b) => a.version - b.version);
}

/** A ledger migrated by newer code: refused by either backend, never written with an older schema. */
export class SchemaTooNewError extends Error {
  constructor(dbVersion: number, codeVersion: number) {
    super(
      `the database is at schema version ${dbVersion}, newer than this siprec-control knows (${codeVersion}); ` +
        'run the newer release, or restore a backup taken before the upgrade',
    );
    this.name = 'SchemaTooNewError';
  }
}
