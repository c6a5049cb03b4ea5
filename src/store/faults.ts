import type { StorageConfig } from '../config';

/**
 * Real faults a test (or a drill) can put on a backend, from outside the store: each backend knows
 * how to make its own writes wait. Nothing in the server uses these.
 */
export interface StoreFaults {
  /**
   * Takes the locks every ledger write needs, on a connection of its own, and keeps them until the
   * returned release is called: writes then wait, and fail as unavailable after the store's
   * writeTimeoutMs. Reads go on.
   */
  holdWrites(): Promise<() => Promise<void>>;
}

export async function storeFaults(storage: StorageConfig): Promise<StoreFaults> {
  if (storage.kind === 'postgres') return (await import('./postgres/faults')).postgresFaults(storage.url);
  return (await import('./sqlite/faults')).sqliteFaults(storage.path);
}
