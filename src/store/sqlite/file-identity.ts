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

/** Describes how the file at `path` differs from the one open, for logs and error messages. */
export function describeLoss(path: string, opened: FileIdentity, now: FileIdentity | null): string {
  return now === null
    ? `the ledger file ${path} was deleted or moved while open (it was ${opened})`
    : `the ledger file ${path} was replaced while open (${opened} is open, ${now} is there now)`;
}

export interface FileGuard {
  /** The file the connection must be writing to. */
  readonly identity: FileIdentity;
  /** Throws (code LEDGER_FILE_LOST) once the file at the path is not the one open. */
  check(): void;
  /** Throws if a check has already failed: a lost file is never found again through this connection. */
  assertNotLost(): void;
  /** Marks the file lost without a check (e.g. a second connection that opened another file). */
  lose(reason: string): void;
}

/**
 * Guards one connection's file. Lost is for good: the connection's descriptor still points at the
 * old file, so only a new connection can write to whatever is at the path now. `onLost` is told
 * once, at the first failed check.
 */
export function fileGuard(path: string, opened: FileIdentity, onLost: (reason: string) => void = () => undefined): FileGuard {
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
    identity: opened,
    check() {
      if (lost === null) {
        let now: FileIdentity | null;
        try {
          now = identityAt(path);
        } catch (err) {
          // A path that cannot even be looked at (EACCES, EIO) cannot be promised either.
          throw Object.assign(new Error(`cannot check the ledger file ${path}: ${(err as Error).message}`), { code: LEDGER_FILE_LOST });
        }
        if (now === opened) return;
        lose(describeLoss(path, opened, now));
      }
      fail();
    },
    assertNotLost() {
      if (lost !== null) fail();
    },
    lose,
  };
}
