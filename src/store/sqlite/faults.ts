import Database from 'better-sqlite3';
import type { StoreFaults } from '../faults';

/** BEGIN IMMEDIATE on a second connection holds the file's one write lock; WAL readers go on. */
export function sqliteFaults(file: string): StoreFaults {
  return {
    holdWrites: async () => {
      const locker = new Database(file, { fileMustExist: true });
      locker.exec('BEGIN IMMEDIATE');
      return async () => {
        locker.exec('ROLLBACK');
        locker.close();
      };
    },
  };
}
