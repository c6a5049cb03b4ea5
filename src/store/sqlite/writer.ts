import type Database from 'better-sqlite3';
import { createGroupCommit, type GroupCommitOptions } from './group-commit';
import { ledgerWrites, type LedgerWriter, type LedgerWrites, type WriteOp } from './writes';

/**
 * Runs the ledger's writes on this thread, through the group commit. The server uses the writer
 * thread instead; tests and the CLI use this, over the same connection they read from.
 */
export function inThreadWriter(db: Database.Database, options: GroupCommitOptions = {}): LedgerWriter {
  const ops = ledgerWrites(db);
  const commit = createGroupCommit(db, options);
  return {
    run: <K extends WriteOp>(op: K, ...args: Parameters<LedgerWrites[K]>) =>
      commit.run(() => (ops[op] as unknown as (...a: unknown[]) => ReturnType<LedgerWrites[K]>)(...args)),
    close: () => commit.run(() => undefined).then(
      () => undefined,
      () => undefined,
    ),
  };
}
