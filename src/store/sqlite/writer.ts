import type Database from 'better-sqlite3';
import { fileGuard, type OpenedFile } from './file-identity';
import { createGroupCommit, type GroupCommitOptions } from './group-commit';
import { openedFile } from './open';
import { ledgerWrites, type LedgerWriter, type LedgerWrites, type WriteOp } from './writes';

export interface InThreadWriterOptions extends Omit<GroupCommitOptions, 'beforeBatch' | 'afterCommit'> {
  /**
   * The files this connection must be writing to, as another connection (the request thread's)
   * opened them; each one not given is the one this connection opened.
   */
  expected?: Partial<Pick<OpenedFile, 'identity' | 'wal' | 'shm'>>;
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
 * path and its -wal and -shm must still be the ones open, or the batch is failed rather than
 * acknowledged into a file no one will open again; and they are checked every few seconds while idle.
 */
export function inThreadWriter(db: Database.Database, options: InThreadWriterOptions = {}): LedgerWriter {
  const ops = ledgerWrites(db);
  const file = openedFile(db);
  const want: OpenedFile | undefined = file && {
    path: file.path,
    identity: options.expected?.identity ?? file.identity,
    wal: options.expected?.wal ?? file.wal,
    shm: options.expected?.shm ?? file.shm,
  };
  const guard = want && fileGuard(want, options.onFileLost);
  const names = (f: OpenedFile) => [f.identity, f.wal, f.shm].join(' ');
  if (file && want && guard && names(want) !== names(file)) {
    guard.lose(`the ledger files at ${file.path} changed between two connections opening them (file, -wal, -shm: ${names(want)}, then ${names(file)})`);
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
