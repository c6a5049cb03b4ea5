import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { LEDGER_FILE_LOST, lossOf, type FileIdentity } from './file-identity';
import type { LedgerWriter, LedgerWrites, WriteOp } from './writes';

export interface WriterThreadData {
  file: string;
  synchronous?: 'FULL' | 'NORMAL';
  busyTimeoutMs?: number;
  /** The file the request thread opened: the thread's own connection must be on the same one. */
  identity?: FileIdentity;
  /** The -wal and -shm the request thread opened beside it (null: the thread's own are taken). */
  wal?: FileIdentity | null;
  shm?: FileIdentity | null;
  checkEveryMs?: number;
}

/** [id, operation, arguments] */
export type WriterRequest = [number, string, unknown[]];
/** [id, true, result] or [id, false, error] */
export type WriterReply = [number, true, unknown] | [number, false, { message: string; code?: string }];
/** Told by the thread outside any reply: the file at the path is no longer the one it writes to. */
export interface WriterNotice {
  fileLost: string;
}

export interface WriterThreadOptions extends Omit<WriterThreadData, 'file'> {
  /** The compiled worker script; by default the one beside this module (see workerScript). */
  script?: string;
  /** After the thread dies, how long writes fail fast before a new one is started. */
  restartDelayMs?: number;
  /**
   * Most writes waiting for the thread at once; more are refused at once (a callback gets 503 and
   * Twilio retries) rather than queued without bound while the file is locked or the disk stalls.
   */
  maxPending?: number;
  /** Told when the thread stops without being closed, so that it is logged once, not per request. */
  onStopped?: (reason: string) => void;
  /**
   * Told once when the thread finds that the file at the path is not the one it writes to (checked
   * after every commit, whose writes then fail, and every checkEveryMs while idle).
   */
  onFileLost?: (reason: string) => void;
}

/**
 * The thread keeps little alive (statements, the writes waiting for a commit), but V8 grows an
 * unbounded heap lazily: measured under the bench's leak check it reached 42 MiB and RSS kept
 * climbing; with these limits it stays under 20 MiB. 64 MiB of old generation still holds tens of
 * thousands of queued writes; past that the thread stops and is restarted like any other failure.
 */
const WRITER_HEAP = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 };

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/**
 * A worker thread runs JavaScript only. Built, this module sits beside writer-worker.js; run from
 * its TypeScript source (jest), it uses the build of the same source in dist/, which `npm test`
 * makes before any test runs.
 */
export function workerScript(): string {
  const beside = path.join(__dirname, 'writer-worker.js');
  if (existsSync(beside) || !__filename.endsWith('.ts')) return beside;
  const built = path.resolve(__dirname, '..', '..', '..', 'dist', 'store', 'sqlite', 'writer-worker.js');
  if (!existsSync(built)) throw new Error(`the ledger writer thread needs ${built}: run npm run build`);
  return built;
}

/**
 * The ledger's writes on their own thread. Each write is acknowledged only after the commit that
 * holds it (the thread's group commit), exactly as on the request thread. If the thread dies, the
 * writes it held fail (the routes answer as for any ledger failure: the call goes on, a callback
 * gets 503 and Twilio retries) and a new thread is started for later writes.
 */
export function writerThread(file: string, options: WriterThreadOptions = {}): LedgerWriter {
  const script = options.script ?? workerScript();
  const restartDelayMs = options.restartDelayMs ?? 1000;
  const data: WriterThreadData = {
    file,
    synchronous: options.synchronous,
    busyTimeoutMs: options.busyTimeoutMs,
    identity: options.identity,
    wal: options.wal,
    shm: options.shm,
    checkEveryMs: options.checkEveryMs,
  };
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let outgoing: WriterRequest[] = [];
  let sendScheduled = false;
  let worker: Worker | null = null;
  let down: { until: number; reason: string } | null = null;
  let closing: Promise<void> | null = null;

  let toldLost = false;
  const fileLost = (reason: string) => {
    if (toldLost) return;
    toldLost = true;
    options.onFileLost?.(reason);
  };
  /**
   * Why a new thread must not be started: its connection would open whatever is at the path now,
   * and SQLite makes an empty database where nothing is.
   */
  const lostSinceOpened = () =>
    data.identity === undefined ? null : lossOf({ path: file, identity: data.identity, wal: data.wal ?? null, shm: data.shm ?? null });

  const maxPending = options.maxPending ?? 10_000;
  const stopped = (reason: string) => Object.assign(new Error(reason), { code: 'WRITER_THREAD_STOPPED' });
  const failAll = (reason: string) => {
    const err = stopped(reason);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    outgoing = [];
  };

  function start(): Worker {
    const w = new Worker(script, { workerData: data, resourceLimits: WRITER_HEAP });
    let lastError: Error | undefined;
    w.on('message', (replies: WriterReply[] | WriterNotice) => {
      if (!Array.isArray(replies)) {
        fileLost(replies.fileLost);
        return;
      }
      for (const [id, ok, value] of replies) {
        const p = pending.get(id);
        if (!p) continue;
        pending.delete(id);
        if (ok) p.resolve(value);
        else p.reject(Object.assign(new Error(value.message), { code: value.code }));
      }
    });
    // A reply that cannot be read leaves no id to settle: end the thread, which fails them all.
    w.on('messageerror', (err) => {
      lastError = err;
      void w.terminate();
    });
    w.on('error', (err) => (lastError = err));
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      const reason = `the ledger writer thread stopped (exit ${code})${lastError ? `: ${lastError.message}` : ''}`;
      if (!closing) {
        down = { until: Date.now() + restartDelayMs, reason };
        options.onStopped?.(reason);
      }
      failAll(reason);
    });
    return w;
  }

  const send = () => {
    sendScheduled = false;
    if (outgoing.length === 0) return;
    const batch = outgoing;
    outgoing = [];
    try {
      worker?.postMessage(batch);
    } catch (err) {
      // Arguments that cannot be cloned fail their own writes, not the process.
      for (const [id] of batch) {
        pending.get(id)?.reject(err as Error);
        pending.delete(id);
      }
    }
  };

  worker = start();

  return {
    run<K extends WriteOp>(op: K, ...args: Parameters<LedgerWrites[K]>): Promise<ReturnType<LedgerWrites[K]>> {
      if (closing) return Promise.reject(new Error('the ledger writer is closed'));
      if (!worker) {
        if (down && Date.now() < down.until) return Promise.reject(stopped(down.reason));
        const lost = lostSinceOpened();
        if (lost) {
          fileLost(lost);
          return Promise.reject(Object.assign(new Error(`${lost}; no writer is started on whatever is there now`), { code: LEDGER_FILE_LOST }));
        }
        down = null;
        worker = start();
      }
      if (pending.size >= maxPending) {
        return Promise.reject(
          Object.assign(new Error(`the ledger writer has ${pending.size} writes waiting; refusing more until it catches up`), { code: 'WRITER_BACKLOG' }),
        );
      }
      return new Promise((resolve, reject) => {
        const id = ++nextId;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        outgoing.push([id, op, args]);
        // Sent at the end of this turn's microtasks: without a wait for the next turn of the loop,
        // and writes made in the same tick still cross together.
        if (!sendScheduled) {
          sendScheduled = true;
          queueMicrotask(send);
        }
      });
    },
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        send();
        const w = worker;
        if (!w) return resolve();
        w.once('exit', () => resolve());
        w.postMessage('close');
      })),
  };
}
