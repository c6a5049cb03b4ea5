/**
 * The writer thread: owns the ledger's write connection and runs named writes (writes.ts) through
 * the group commit. A commit's fsync blocks this thread only; requests keep being parsed, verified
 * and answered meanwhile, and the writes they queue share the next commit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './open';
import { inThreadWriter } from './writer';
import type { WriterNotice, WriterReply, WriterRequest, WriterThreadData } from './writer-thread';
import type { LedgerWrites, WriteOp } from './writes';

const port = parentPort;
if (!port) throw new Error('writer-worker runs only as a worker thread');

const data = workerData as WriterThreadData;
// The main thread has made and migrated the file already; this connection only writes (and a
// missing file is a lost ledger, never one to make afresh).
const db = openDatabase(data.file, { synchronous: data.synchronous, busyTimeoutMs: data.busyTimeoutMs, migrate: false, mustExist: true });
// On this thread, the same writer the request thread uses when it writes for itself, guarding the
// files the request thread opened. A loss is told at once, ahead of the replies it fails.
const writer = inThreadWriter(db, {
  expected: { identity: data.identity, wal: data.wal, shm: data.shm },
  checkEveryMs: data.checkEveryMs,
  onFileLost: (reason) => port.postMessage({ fileLost: reason } satisfies WriterNotice),
});

let replies: WriterReply[] = [];
let replyScheduled = false;
const sendReplies = () => {
  replyScheduled = false;
  if (replies.length === 0) return;
  const batch = replies;
  replies = [];
  port.postMessage(batch);
};
// One message back per commit, not one per write: a commit settles its writes' promises together,
// and a microtask runs after all of them but before this thread does anything else.
const reply = (r: WriterReply) => {
  replies.push(r);
  if (replyScheduled) return;
  replyScheduled = true;
  queueMicrotask(sendReplies);
};

port.on('message', (requests: WriterRequest[] | 'close') => {
  if (requests === 'close') {
    void writer.close().finally(() => {
      sendReplies();
      db.close();
      port.close();
    });
    return;
  }
  for (const [id, op, args] of requests) {
    writer.run(op as WriteOp, ...(args as Parameters<LedgerWrites[WriteOp]>)).then(
      (value) => reply([id, true, value]),
      (err: unknown) => {
        const e = err as { message?: unknown; code?: unknown };
        reply([id, false, { message: String(e?.message ?? err), code: typeof e?.code === 'string' ? e.code : undefined }]);
      },
    );
  }
});
// A request that cannot be read leaves no id to answer: stop, and the request thread fails them all.
port.on('messageerror', () => process.exit(1));
