import type Database from 'better-sqlite3';

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  /** Most writes committed together; more wait for the next commit. */
  maxBatch?: number;
  /** Throws to fail a batch before it begins (e.g. the file is known to be lost). */
  beforeBatch?: () => void;
  /**
   * Throws to fail a batch that has committed: its writes are not acknowledged. For a commit that
   * went into a file that is no longer the one at the database's path.
   */
  afterCommit?: () => void;
}

/**
 * Group commit: writes that arrive in the same turn of the event loop share one BEGIN IMMEDIATE …
 * COMMIT, so under load one fsync (synchronous=FULL) covers many requests. Each write is itself a
 * better-sqlite3 transaction function, which nested inside the batch runs as a SAVEPOINT: a write
 * that throws rolls back alone and fails alone. Every promise settles only after the COMMIT that
 * holds its write has returned, so nothing is acknowledged before it is durable.
 */
export function createGroupCommit(db: Database.Database, options: GroupCommitOptions = {}) {
  const maxBatch = options.maxBatch ?? 256;
  let queue: Pending[] = [];
  let scheduled = false;

  const runBatch = db.transaction((batch: Pending[]) =>
    batch.map((p) => {
      try {
        return { ok: true as const, value: p.work() };
      } catch (err) {
        return { ok: false as const, err };
      }
    }),
  );

  function flush(): void {
    scheduled = false;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    if (queue.length > 0) schedule();
    let outcomes;
    try {
      options.beforeBatch?.();
      outcomes = runBatch.immediate(batch);
      options.afterCommit?.();
    } catch (err) {
      // BEGIN or COMMIT failed, or the commit went where no one will read it: nothing in this batch is acknowledged.
      for (const p of batch) p.reject(err);
      return;
    }
    outcomes.forEach((o, i) => (o.ok ? batch[i]!.resolve(o.value) : batch[i]!.reject(o.err)));
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  }

  return {
    /** Runs `work` (a better-sqlite3 transaction function) in the next group commit. */
    run<T>(work: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
        schedule();
      });
    },
    /** Writes still waiting for their commit. */
    get pending(): number {
      return queue.length;
    },
  };
}
