import { renameSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { HeldAlerts } from '../../alerts/held';
import { heldAlertsOver } from './outbox';
import type { AlertOutbox } from '../../alerts/types';
import { StoreUnavailableError, type LedgerLog, type Store } from '../store';
import { createSqliteStore } from '.';
import { identityAt, lossOf } from './file-identity';
import { openDatabase, openedFile, type OpenedFile } from './open';
import { writerThread } from './writer-thread';


export interface SqliteLedgerOptions {
  log: LedgerLog;
  synchronous?: 'FULL' | 'NORMAL';
  busyTimeoutMs?: number;
  /** How often the writer thread compares the file at the path with its own while idle. */
  checkEveryMs?: number;
  /** While the file is lost, how often to look for a ledger at the path to reopen. */
  retryEveryMs?: number;
}

export const LEDGER_FILE_LOST_MESSAGE = 'LEDGER FILE REPLACED OR DELETED';

/** The store over one opening of the file: its read connection, its writer thread. */
interface Opening {
  store: Store;
  opened: OpenedFile;
}

/** Alert methods that work in memory, so they keep working while the file is lost. */
const IN_MEMORY = new Set(['hold', 'dueHeld', 'updateHeld']);

/**
 * The SQLite ledger at `file`, as the server runs it: reads here, writes on a writer thread, and
 * the files watched. When the file at the path is no longer the one open (deleted, moved, or
 * replaced by a rename), everything written from then on would go to a file no one will read; when
 * its -wal or -shm is (a "stray journal" cleaned up), every commit since the last checkpoint would
 * be lost at the next crash. So: every store call fails as unavailable (callbacks 503, /readyz 503;
 * calls are still answered), the loss is logged once, the old connections are closed (which
 * checkpoints a lost -wal into its file when that file is still the one at the path), and the -wal
 * and -shm a lost file left at the path are renamed aside (SQLite would otherwise replay that WAL
 * into whatever file comes next). It reopens once the path holds a siprec-control ledger again (the
 * same file, or a restored backup, migrated if older). It never makes a new ledger there itself: an
 * empty ledger that looks healthy would hide that the history is gone. Restarting the server is how
 * to start afresh on purpose.
 */
export function openSqliteLedger(file: string, options: SqliteLedgerOptions): Store {
  const { log, synchronous, busyTimeoutMs, checkEveryMs } = options;
  // An in-memory database exists only on its own connection: it writes on this thread, and has no file to lose.
  if (file === ':memory:') return createSqliteStore(openDatabase(file, { synchronous, busyTimeoutMs }));

  let held: HeldAlerts | undefined;
  let lost: { reason: string; opening: Opening; closed: Promise<void> } | null = null;
  let reopening: Promise<void> | null = null;
  let notReopenedBecause: string | null = null;
  let retry: NodeJS.Timeout | undefined;
  let closing = false;

  /** `mustExist` on a reopen: a file gone since it was looked at is not made afresh. */
  function open(mustExist: boolean): Opening {
    const db = openDatabase(file, { synchronous, busyTimeoutMs, mustExist });
    try {
      const opened = openedFile(db)!;
      held ??= heldAlertsOver(db);
      const opening = { opened } as Opening;
      const writer = writerThread(file, {
        synchronous,
        busyTimeoutMs,
        checkEveryMs,
        identity: opened.identity,
        wal: opened.wal,
        shm: opened.shm,
        onStopped: (reason) => log.error({ reason }, 'LEDGER WRITER THREAD STOPPED: its writes failed; a new thread starts on the next write'),
        // A thread of an opening already given up may still report; only the current one counts.
        onFileLost: (reason) => current === opening && lose(reason),
      });
      opening.store = createSqliteStore(db, { writer, held });
      return opening;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  let current = open(false);

  const unavailable = () =>
    new StoreUnavailableError(`${lost?.reason ?? 'the ledger file was lost'}; waiting for a ledger at ${file} to reopen`);

  function lose(reason: string): void {
    if (lost || closing) return;
    const opening = current;
    lost = { reason, opening, closed: opening.store.close().catch(() => undefined) };
    log.error({ file, reason }, `${LEDGER_FILE_LOST_MESSAGE}: status callbacks answer 503 and /readyz fails until a ledger is at the path again; calls are still answered, not recorded`);
    retry = setInterval(() => void reopen(), options.retryEveryMs ?? 1000);
    retry.unref();
    void reopen();
  }

  /** Renames the lost file's own -wal and -shm out of the way; a reason when one cannot be. */
  function setAsideLeftovers(opened: OpenedFile): string | null {
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    for (const [suffix, identity] of [['-wal', opened.wal], ['-shm', opened.shm]] as const) {
      const path = `${file}${suffix}`;
      if (identity === null || identityAt(path) !== identity) continue;
      const aside = `${path}.lost-${stamp}`;
      try {
        renameSync(path, aside);
        log.warn({ file: path, movedTo: aside }, 'the lost ledger file\'s own journal was moved aside, so that it is not replayed into the next file');
      } catch (err) {
        return `${path} belongs to the lost file and could not be moved aside (${(err as Error).message}); move it away by hand`;
      }
    }
    return null;
  }

  /** Why the file at the path is not a ledger to reopen, or null when it is one. */
  function notALedger(): string | null {
    if (identityAt(file) === null) return 'nothing is at the path; restore a backup there (a new, empty ledger is made only by a restart)';
    let probe: Database.Database | undefined;
    try {
      // Read-only: looking must never turn an empty file into a database.
      probe = new Database(file, { readonly: true, fileMustExist: true });
      const ledger = probe.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
      return ledger ? null : 'the file there is not a siprec-control ledger (no schema_migrations; an empty file is none), and is left as it is';
    } catch (err) {
      return `the file there cannot be read as a ledger: ${(err as Error).message}`;
    } finally {
      probe?.close();
    }
  }

  function reopen(): Promise<void> {
    reopening ??= (async () => {
      if (!lost) return;
      // The old connections first: none may be open on the path while another file is opened there.
      await lost.closed;
      if (!lost || closing) return;
      const why = setAsideLeftovers(lost.opening.opened) ?? notALedger();
      let next: Opening | undefined;
      let failure = why;
      if (!why) {
        try {
          next = open(true);
        } catch (err) {
          failure = `opening it failed: ${(err as Error).message}`;
        }
      }
      if (!next) {
        if (failure !== notReopenedBecause) log.warn({ file, reason: failure }, 'ledger file not reopened yet');
        notReopenedBecause = failure;
        return;
      }
      current = next;
      lost = null;
      notReopenedBecause = null;
      clearInterval(retry);
      log.info({ file, identity: next.opened.identity }, 'LEDGER FILE REOPENED: callbacks are stored again');
    })().finally(() => (reopening = null));
    return reopening;
  }

  /** Each method of `sample`, called on what `target` gives at the time, refused while the file is lost. */
  function delegate<T extends object>(sample: T, target: () => T, inMemory: ReadonlySet<string> = new Set()): T {
    return Object.fromEntries(
      Object.keys(sample).map((key) => [
        key,
        (...args: unknown[]) =>
          lost && !inMemory.has(key) ? Promise.reject(unavailable()) : (target()[key as keyof T] as (...a: unknown[]) => unknown)(...args),
      ]),
    ) as T;
  }

  // Every method another backend change adds to the store is passed on too, without being listed here.
  const methods = Object.fromEntries(Object.entries(current.store).filter(([key]) => !['alerts', 'ping', 'close'].includes(key))) as Partial<Store>;
  return {
    ...delegate(methods, () => current.store),
    alerts: delegate<AlertOutbox>(current.store.alerts, () => current.store.alerts, IN_MEMORY),
    // Readiness checks the path itself, and is where a lost file is reopened as soon as it can be.
    ping: async () => {
      if (!lost && !closing) {
        const reason = lossOf(current.opened);
        if (reason) lose(reason);
      }
      if (lost) await reopen();
      if (lost) throw unavailable();
      return current.store.ping();
    },
    close: async () => {
      closing = true;
      clearInterval(retry);
      await reopening;
      if (lost) await lost.closed;
      else await current.store.close();
    },
  } as Store;
}
