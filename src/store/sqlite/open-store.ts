import type { OpenStoreOptions } from '..';
import type { Store } from '../store';
import { createSqliteStore } from '.';
import { openSqliteLedger } from './ledger-file';
import { openDatabase } from './open';

/**
 * The server's ledger: writes on a writer thread, the file watched (ledger-file.ts). A one-shot CLI
 * command writes on its own thread, on a file that must already exist.
 */
export function openSqliteStore(file: string, options: OpenStoreOptions): Store {
  const { synchronous, writeTimeoutMs: busyTimeoutMs } = options;
  if (options.mode === 'cli') return createSqliteStore(openDatabase(file, { synchronous, busyTimeoutMs, mustExist: options.mustExist ?? true }));
  return openSqliteLedger(file, { log: options.log, synchronous, busyTimeoutMs });
}
