import type { LedgerLog } from '../store';
import { scrubPassword } from './connection';
import { SchemaTooNewError } from '../migrations';
import { applyPgMigrations, migrationPool } from './migrate';
import { databaseHosts } from './url';

/** How long a server keeps trying to reach the database at boot (a database starting beside it). */
export const BOOT_RETRY_MS = 30_000;
const RETRY_EVERY_MS = 1000;
const CONNECT_TIMEOUT_S = 5;

/** SQLSTATEs that mean "not reachable yet", worth another try: connection exceptions, starting up, shutting down, full. */
const TRANSIENT = /^(08|57P0[1-3]|53300)/;

function transient(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  // postgres.js's own connection errors (CONNECT_TIMEOUT, CONNECTION_CLOSED) and the OS's (ECONNREFUSED).
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || /^E[A-Z]+$/.test(code) || code.startsWith('CONN')) return true;
  return TRANSIENT.test(code);
}

const timeout = (ms: number) =>
  new Promise<never>((_, reject) => setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'CONNECT_TIMEOUT' })), ms).unref());

/**
 * Reaches the database and applies the pending migrations (under their advisory lock). A server
 * ('server' mode) tries for BOOT_RETRY_MS, logging each failed attempt with the hosts (never the
 * password): a database and its services often start together. A one-shot command tries once.
 * Either way it fails with an error that names host:port, or at once when retrying cannot help
 * (a wrong password, a missing database, a schema newer than this code).
 */
export async function connectAtBoot(url: string, mode: 'server' | 'cli', log: LedgerLog): Promise<void> {
  const hosts = databaseHosts(url).join(',');
  const started = Date.now();
  const budget = mode === 'server' ? BOOT_RETRY_MS : 0;
  for (let attempt = 1; ; attempt += 1) {
    const sql = migrationPool(url, CONNECT_TIMEOUT_S);
    try {
      // The connection alone is bounded: with every host refusing, postgres.js keeps trying them.
      await Promise.race([sql`SELECT 1`, timeout(CONNECT_TIMEOUT_S * 1000 + 1000)]);
      await applyPgMigrations(sql);
      return;
    } catch (err) {
      if (err instanceof SchemaTooNewError) throw err;
      const reason = scrubPassword((err as Error).message, url);
      const elapsed = Date.now() - started;
      if (!transient(err)) throw new Error(`PostgreSQL at ${hosts} refused the ledger: ${reason}`, { cause: err });
      if (elapsed + RETRY_EVERY_MS >= budget) {
        const tried = mode === 'server' ? ` for ${Math.round(elapsed / 1000)} s (${attempt} attempts)` : '';
        throw new Error(`PostgreSQL at ${hosts} could not be reached${tried}: ${reason}`, { cause: err });
      }
      log.warn({ attempt, hosts, error: reason }, 'PostgreSQL is not reachable yet: trying again');
      await new Promise((r) => setTimeout(r, RETRY_EVERY_MS));
    } finally {
      sql.end({ timeout: 0 }).catch(() => undefined);
    }
  }
}
