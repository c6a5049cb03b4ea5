import type { StorageConfig } from '../config';
import { redactDatabaseUrl } from './postgres/url';
import type { LedgerLog } from './store';
import type { Store } from './store';

export type { StorageConfig };
export type { LedgerLog };

export interface OpenStoreOptions {
  log: LedgerLog;
  /**
   * How long a write may wait for a lock another connection holds before it fails as unavailable
   * (SQLite's busy timeout; PostgreSQL's per-write deadline). Tests shorten it to see a fault fast.
   */
  writeTimeoutMs?: number;
  /**
   * 'server' (default): SQLite writes on a writer thread with the file watched; PostgreSQL boots
   * retrying for up to 30 s. 'cli': one-shot commands: SQLite writes on this thread; the file must exist.
   */
  mode?: 'server' | 'cli';
  /** 'cli' mode: refuse a SQLite file that is not there (default), rather than create an empty ledger. */
  mustExist?: boolean;
  /** SQLite only: FULL (default) or NORMAL. */
  synchronous?: 'FULL' | 'NORMAL';
}

/**
 * The one place that knows which database the ledger is in. Everything above the store takes a
 * Store and never asks which backend it is.
 */
export async function openStore(storage: StorageConfig, options: OpenStoreOptions): Promise<Store> {
  if (storage.kind === 'postgres') {
    const { openPostgresStore } = await import('./postgres');
    return openPostgresStore(storage, options);
  }
  const { openSqliteStore } = await import('./sqlite/open-store');
  return openSqliteStore(storage.path, options);
}

/** Where the ledger is, for logs and check-config: the SQLite path, or the URL with its password masked. */
export function describeStorage(storage: StorageConfig): string {
  return storage.kind === 'sqlite' ? `SQLite ${storage.path}` : `PostgreSQL ${redactDatabaseUrl(storage.url)}`;
}
