import type Database from 'better-sqlite3';
import { fileGuard, type FileIdentity } from './file-identity';
import { createGroupCommit, type GroupCommitOptions } from './group-commit';
import { openedFile } from './open';
import { ledgerWrites, type LedgerWriter, type LedgerWrites, type WriteOp } from './writes';

export interface InThreadWriterOptions extends Omit<GroupCommitOptions, 'beforeBatch' | 'afterCommit'> {
  /** The file this connection must be writing to (another connection's identity); by default the one it opened. */
  expectedIdentity?: FileIdentity;
  /** How often the file at the path is compared with the one open while no commit does it. */
  checkEveryMs?: number;
  /** Told once when the file at the path is no longer the one open (deleted, moved or replaced). */
  onFileLost?: (reason: string) => void;
}

/** Often enough that an idle server notices a deleted ledger within seconds, not at the next callback. */
export const FILE_CHECK_EVERY_MS = 2000;

/**
 * Runs the ledger's writes on this thread, through the group commit. The server uses the writer
 * thread instead (which runs this there); tests and the CLI use this, over the same connection
 * they read from.
 *
 * A connection opened by openDatabase on a file is guarded: after every commit, the file at the
 * path must still be the one open, or the batch is failed rather than acknowledged into a file no
 * one will open again; and it is checked every few seconds while idle.
 */
export function inThreadWriter(db: Database.Database, options: InThreadWriterOptions = {}): LedgerWriter {
  const ops = ledgerWrites(db);
  const file = openedFile(db);
  const guard = file && fileGuard(file.path, options.expectedIdentity ?? file.identity, options.onFileLost);
  if (guard && file.identity !== guard.identity) {
    guard.lose(`the ledger file ${file.path} changed between two connections opening it (${guard.identity}, then ${file.identity})`);
  }
  const commit = createGroupCommit(db, { maxBatch: options.maxBatch, beforeBatch: guard?.assertNotLost, afterCommit: guard?.check });
  const timer = guard && setInterval(() => {
    try {
      guard.check();
    } catch {
      // Told through onFileLost; the writes see it at their next batch.
    }
  }, options.checkEveryMs ?? FILE_CHECK_EVERY_MS);
  timer?.unref();
  return {
    run: <K extends WriteOp>(op: K, ...args: Parameters<LedgerWrites[K]>) =>
      commit.run(() => (ops[op] as unknown as (...a: unknown[]) => ReturnType<LedgerWrites[K]>)(...args)),
    close: () => {
      clearInterval(timer || undefined);
      return commit.run(() => undefined).then(
        () => undefined,
        () => undefined,
      );
    },
  };
}
