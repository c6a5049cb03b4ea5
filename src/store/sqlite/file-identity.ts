import { statSync } from 'node:fs';

/**
 * Which file a path names: device and inode, as "dev:ino". SQLite keeps writing to the file it has
 * open even once that file has no name (deleted, or replaced by a rename onto its path); comparing
 * what the path names now with what was opened is the only way to notice.
 */
export type FileIdentity = string;

/** The identity of the file at `path`, or null when nothing is there. */
export function identityAt(path: string): FileIdentity | null {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export const LEDGER_FILE_LOST = 'LEDGER_FILE_LOST';

/** The files one connection opened, as they were named when it opened them. */
export interface OpenedFile {
  path: string;
  identity: FileIdentity;
  /**
   * The -wal and -shm beside it (null if not there). They count as much as the file: commits not yet
   * checkpointed are in the -wal alone, so one deleted under a running server is lost at the next
   * crash; and a process that opens the ledger meanwhile makes new ones, blind to this one's.
   */
  wal: FileIdentity | null;
  shm: FileIdentity | null;
}

/** Describes how the file at `path` differs from the one open, for logs and error messages. */
function describeLoss(path: string, opened: FileIdentity, now: FileIdentity | null): string {
  return now === null
    ? `the ledger file ${path} was deleted or moved while open (it was ${opened})`
    : `the ledger file ${path} was replaced while open (${opened} is open, ${now} is there now)`;
}

/** How the files at `opened.path` now differ from those open; null while they are the same. */
export function lossOf(opened: OpenedFile): string | null {
  const now = identityAt(opened.path);
  if (now !== opened.identity) return describeLoss(opened.path, opened.identity, now);
  for (const [suffix, was] of [['-wal', opened.wal], ['-shm', opened.shm]] as const) {
    if (was === null) continue;
    const at = identityAt(`${opened.path}${suffix}`);
    if (at !== was) {
      return `the ledger's ${suffix} ${opened.path}${suffix} was ${at === null ? 'deleted' : 'replaced'} while open (the commits not yet checkpointed are in the one open)`;
    }
  }
  return null;
}

/** Closures over one connection's state, not methods: the group commit takes check and assertNotLost as callbacks. */
export interface FileGuard {
  /** The file the connection must be writing to. */
  readonly identity: FileIdentity;
  /** Throws (code LEDGER_FILE_LOST) once the file at the path is not the one open. */
  readonly check: () => void;
  /** Throws if a check has already failed: a lost file is never found again through this connection. */
  readonly assertNotLost: () => void;
  /** Marks the file lost without a check (e.g. a second connection that opened another file). */
  readonly lose: (reason: string) => void;
}

/**
 * Guards one connection's file. Lost is for good: the connection's descriptor still points at the
 * old file, so only a new connection can write to whatever is at the path now. `onLost` is told
 * once, at the first failed check.
 */
export function fileGuard(opened: OpenedFile, onLost: (reason: string) => void = () => undefined): FileGuard {
  let lost: string | null = null;
  const fail = (): never => {
    throw Object.assign(new Error(`${lost}; nothing more is written to it`), { code: LEDGER_FILE_LOST });
  };
  const lose = (reason: string) => {
    if (lost !== null) return;
    lost = reason;
    onLost(reason);
  };
  return {
    identity: opened.identity,
    check: () => {
      if (lost === null) {
        let reason: string | null;
        try {
          reason = lossOf(opened);
        } catch (err) {
          // A path that cannot even be looked at (EACCES, EIO) cannot be promised either.
          throw Object.assign(new Error(`cannot check the ledger file ${opened.path}: ${(err as Error).message}`), { code: LEDGER_FILE_LOST });
        }
        if (reason === null) return;
        lose(reason);
      }
      fail();
    },
    assertNotLost: () => {
      if (lost !== null) fail();
    },
    lose,
  };
}
