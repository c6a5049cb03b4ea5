import path from 'node:path';
import type { LedgerLog } from '../store';
import { readMigrations, SchemaTooNewError, type Migration } from '../migrations';
import { createPool, scrubPassword, type Sql } from './connection';
import { databaseHosts } from './url';

export const PG_MIGRATIONS_DIR = path.join(__dirname, '..', '..', '..', 'migrations', 'postgres');

/** One advisory lock key for "migrating this database": instances booting together take turns. */
const MIGRATION_LOCK = 0x5ec_0001;

export type PgMigration = Migration;

export const readPgMigrations = (dir = PG_MIGRATIONS_DIR): PgMigration[] => readMigrations(dir);

/**
 * Applies the pending migrations on `sql` (one connection: the advisory lock is the session's),
 * each in its own transaction with its row in schema_migrations. Under pg_advisory_lock, so that of
 * instances booting together one applies each migration and the others then find it applied.
 * Returns the versions this call applied.
 */
export async function applyPgMigrations(sql: Sql, migrations = readPgMigrations()): Promise<number[]> {
  const latest = migrations.at(-1)?.version ?? 0;
  await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK})`;
  try {
    await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`;
    const [row] = await sql<Array<{ v: number | null }>>`SELECT max(version) AS v FROM schema_migrations`;
    const current = row?.v ?? 0;
    if (current > latest) throw new SchemaTooNewError(current, latest);
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= current) continue;
      await sql.begin(async (tx) => {
        await tx.unsafe(m.sql);
        await tx`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${m.version}, ${m.name}, ${Date.now()})`;
      });
      applied.push(m.version);
    }
    return applied;
  } finally {
    await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`.catch(() => undefined);
  }
}

/** What migrating needs of a connection: no statement timeout (a migration may rewrite a big table). */
export const migrationPool = (url: string, connectTimeoutSeconds: number) =>
  createPool(url, { max: 1, applicationName: 'siprec-control migrate', statementTimeoutMs: 0, connectTimeoutSeconds });

/** `siprec-control migrate`: applies the pending migrations and returns the versions applied. */
export async function migratePostgres(url: string, log: LedgerLog, connectTimeoutSeconds = 10): Promise<number[]> {
  const sql = migrationPool(url, connectTimeoutSeconds);
  try {
    const applied = await applyPgMigrations(sql);
    log.info({ hosts: databaseHosts(url), applied }, applied.length ? 'PostgreSQL ledger migrated' : 'PostgreSQL ledger already up to date');
    return applied;
  } catch (err) {
    if (err instanceof SchemaTooNewError) throw err;
    throw new Error(`migrating the PostgreSQL ledger at ${databaseHosts(url).join(',')} failed: ${scrubPassword((err as Error).message, url)}`, {
      cause: err,
    });
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
}
