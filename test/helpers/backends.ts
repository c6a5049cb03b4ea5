import type { StorageConfig } from '../../src/config';
import { describeWithPostgres, freshPgDatabase } from './pg';
import type { TempDir } from './env';

export type BackendName = 'sqlite' | 'postgres';
export const BACKENDS: readonly BackendName[] = ['sqlite', 'postgres'];

export interface TestStorage {
  backend: BackendName;
  storage: StorageConfig;
  /** The environment that selects it (DATABASE_PATH or DATABASE_URL), for a config or a child process. */
  env: Record<string, string>;
  /** Drops the PostgreSQL database; a SQLite file goes with its temp dir. */
  remove(): Promise<void>;
}

/** A new, empty ledger on `backend`: a SQLite file in `dir`, or a new database in the run's cluster. */
export async function testStorage(backend: BackendName, dir: TempDir): Promise<TestStorage> {
  if (backend === 'sqlite') {
    const file = dir.file('ledger.sqlite');
    return { backend, storage: { kind: 'sqlite', path: file }, env: { DATABASE_PATH: file }, remove: () => Promise.resolve() };
  }
  const db = await freshPgDatabase();
  return { backend, storage: { kind: 'postgres', url: db.url, poolSize: 10 }, env: { DATABASE_URL: db.url }, remove: db.drop };
}

/**
 * Runs the same describe body once per backend. Without PostgreSQL installed its half fails under
 * CI=true and otherwise skips, printing the install command.
 */
export function describeEachBackend(name: string, body: (backend: BackendName) => void): void {
  describe(`${name} [sqlite]`, () => body('sqlite'));
  describeWithPostgres(`${name} [postgres]`, () => body('postgres'));
}
