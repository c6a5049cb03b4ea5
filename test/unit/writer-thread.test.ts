import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { identityAt } from '../../src/store/sqlite/file-identity';
import { openDatabase } from '../../src/store/sqlite/open';
import { inThreadWriter } from '../../src/store/sqlite/writer';
import { workerScript, writerThread } from '../../src/store/sqlite/writer-thread';
import type { LedgerWriter } from '../../src/store/sqlite/writes';
import type { IncomingEvent, NewCall } from '../../src/store/store';
import { TEST_ACCOUNT_SID, tempDir, type TempDir } from '../helpers/env';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

const call = (callSid = newCallSid()): NewCall => ({ callSid, accountSid: TEST_ACCOUNT_SID, from: null, to: '+15550001111', direction: 'inbound', receivedAt: 1_000 });
const session = { name: 'gridspace', connectorName: 'Gridspace_1', track: 'both_tracks', parameters: [{ name: 'Team', value: 'sales' }] };
const started = (callSid: string): IncomingEvent => ({
  accountSid: TEST_ACCOUNT_SID,
  callSid,
  siprecSid: newSiprecSid(),
  siprecName: 'gridspace',
  event: 'siprec-started',
  timestampRaw: '2026-11-26T10:00:00Z',
  occurredAt: Date.parse('2026-11-26T10:00:00Z'),
  receivedAt: 2_000,
  errorCode: null,
  errorMessage: null,
  payload: { SiprecEvent: 'siprec-started' },
});

describe('the ledger writer thread', () => {
  let dir: TempDir;
  let file: string;
  let writer: LedgerWriter | undefined;
  const count = (table: string) => {
    const db = new Database(file, { readonly: true });
    try {
      return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir.dir, 'ledger.db');
    openDatabase(file).close();
  });
  afterEach(async () => {
    await writer?.close();
    writer = undefined;
    dir.remove();
  });

  it('runs named writes on its own connection and hands their results back', async () => {
    writer = writerThread(file);
    const c = call();
    await writer.run('recordRequested', c, [session]);
    const event = started(c.callSid);
    expect(await writer.run('applyEvent', event)).toBe('stored');
    expect(await writer.run('applyEvent', event)).toBe('duplicate');
    const views = await writer.run('markStopRequested', c, ['gridspace'], 3_000);
    expect(views).toEqual([expect.objectContaining({ name: 'gridspace', state: 'active', stopRequestedAt: new Date(3_000).toISOString() })]);
    expect(count('siprec_events')).toBe(1);
  });

  it('fails only the write that throws; the others in its commit are stored', async () => {
    writer = writerThread(file);
    const good = [call(), call()];
    const results = await Promise.allSettled([
      writer.run('recordRequested', good[0]!, [session]),
      writer.run('recordRequested', { ...call(), accountSid: null as unknown as string }, [session]),
      writer.run('recordRequested', good[1]!, [session]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason.message)).toMatch(/NOT NULL/);
    expect(count('calls')).toBe(2);
  });

  it('on close, commits every write it had accepted before stopping', async () => {
    writer = writerThread(file);
    const writes = Array.from({ length: 300 }, () => writer!.run('recordRequested', call(), [session]));
    await writer.close();
    await expect(Promise.all(writes)).resolves.toHaveLength(300);
    expect(count('calls')).toBe(300);
    await expect(writer.run('ping', 1)).rejects.toThrow('closed');
  });

  it('fails the writes it holds when the thread dies mid-flight', async () => {
    const dying = path.join(dir.dir, 'dies-on-message.js');
    writeFileSync(dying, "require('node:worker_threads').parentPort.on('message', () => process.exit(9));\n");
    const reasons: string[] = [];
    writer = writerThread(file, { script: dying, onStopped: (reason) => reasons.push(reason) });
    const writes = [writer.run('recordRequested', call(), [session]), writer.run('ping', 1)];
    for (const w of writes) await expect(w).rejects.toMatchObject({ code: 'WRITER_THREAD_STOPPED', message: expect.stringContaining('exit 9') });
    expect(reasons).toEqual([expect.stringContaining('exit 9')]);
  });

  it('refuses writes past maxPending at once, and takes them again once it catches up', async () => {
    writer = writerThread(file, { maxPending: 3, busyTimeoutMs: 5000 });
    await writer.run('ping', 0);
    const locker = new Database(file);
    locker.exec('BEGIN IMMEDIATE');
    const held = [1, 2, 3].map(() => writer!.run('recordRequested', call(), [session]));
    await expect(writer.run('recordRequested', call(), [session])).rejects.toMatchObject({ code: 'WRITER_BACKLOG' });
    locker.exec('ROLLBACK');
    locker.close();
    await Promise.all(held);
    await writer.run('recordRequested', call(), [session]);
    expect(count('calls')).toBe(4);
  });

  it('when the thread dies, fails its writes at once, fails fast for a while, then starts a new thread', async () => {
    const dying = path.join(dir.dir, 'dying-worker.js');
    const starts = path.join(dir.dir, 'starts');
    writeFileSync(starts, '');
    writeFileSync(dying, `require('node:fs').appendFileSync(${JSON.stringify(starts)}, 'x'); process.exit(7);\n`);
    const started = () => readFileSync(starts, 'utf8').length;
    writer = writerThread(file, { script: dying, restartDelayMs: 300 });
    await expect(writer.run('ping', 1)).rejects.toMatchObject({ code: 'WRITER_THREAD_STOPPED', message: expect.stringContaining('exit 7') });
    expect(started()).toBe(1);
    await expect(writer.run('ping', 2)).rejects.toMatchObject({ code: 'WRITER_THREAD_STOPPED', message: expect.stringContaining('exit 7') });
    expect(started()).toBe(1);
    await new Promise((r) => setTimeout(r, 400));
    await expect(writer.run('ping', 3)).rejects.toMatchObject({ message: expect.stringContaining('exit 7') });
    expect(started()).toBe(2);
  });

  describe('when the file at the path is no longer the one open', () => {
    const removeFiles = () => {
      for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    };
    const waitFor = async (what: string, check: () => boolean) => {
      const deadline = Date.now() + 5_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`not within 5 s: ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    it('fails the writes whose commit went to the deleted file, and tells it once', async () => {
      const reasons: string[] = [];
      writer = writerThread(file, { identity: identityAt(file)!, checkEveryMs: 60_000, onFileLost: (r) => reasons.push(r) });
      await writer.run('ping', 1);
      removeFiles();
      await expect(writer.run('recordRequested', call(), [session])).rejects.toMatchObject({ code: 'LEDGER_FILE_LOST', message: expect.stringContaining('deleted or moved') });
      // Lost for good through this connection: refused before any commit.
      await expect(writer.run('ping', 2)).rejects.toMatchObject({ code: 'LEDGER_FILE_LOST' });
      expect(reasons).toEqual([expect.stringContaining(file)]);
    });

    it('notices a deleted file while idle, within checkEveryMs, with no write to find it', async () => {
      const reasons: string[] = [];
      writer = writerThread(file, { identity: identityAt(file)!, checkEveryMs: 50, onFileLost: (r) => reasons.push(r) });
      await writer.run('ping', 1);
      removeFiles();
      await waitFor('the thread reports the loss', () => reasons.length > 0);
      expect(reasons).toEqual([expect.stringContaining('deleted or moved')]);
    });

    it('never restarts a stopped thread onto a deleted file: no empty database is made at the path', async () => {
      // The real writer, behind a first start that dies: the restart is what opens the path again.
      const once = path.join(dir.dir, 'dies-once.js');
      const died = path.join(dir.dir, 'died');
      writeFileSync(once, `const fs = require('node:fs');
if (!fs.existsSync(${JSON.stringify(died)})) { fs.writeFileSync(${JSON.stringify(died)}, ''); process.exit(5); }
require(${JSON.stringify(workerScript())});
`);
      const reasons: string[] = [];
      writer = writerThread(file, { script: once, restartDelayMs: 0, identity: identityAt(file)!, onFileLost: (r) => reasons.push(r) });
      await expect(writer.run('ping', 1)).rejects.toMatchObject({ code: 'WRITER_THREAD_STOPPED' });
      removeFiles();
      const refused = await writer.run('ping', 2).then(() => null, (err: unknown) => err);
      expect(existsSync(file)).toBe(false);
      expect(refused).toMatchObject({ code: 'LEDGER_FILE_LOST' });
      expect(reasons).toEqual([expect.stringContaining('deleted or moved')]);
    });

    it('refuses to write when its own connection is not on the file the request thread opened', async () => {
      writer = writerThread(file, { identity: '1:1' });
      await expect(writer.run('ping', 1)).rejects.toMatchObject({ code: 'LEDGER_FILE_LOST' });
      expect(count('readiness')).toBe(0);
    });

    it('guards writes made on the request thread too: a file renamed onto the path fails the write', async () => {
      const db = openDatabase(file);
      const reasons: string[] = [];
      const inThread = inThreadWriter(db, { onFileLost: (r) => reasons.push(r) });
      try {
        await inThread.run('ping', 1);
        const other = path.join(dir.dir, 'other.db');
        openDatabase(other).close();
        renameSync(other, file);
        await expect(inThread.run('recordRequested', call(), [session])).rejects.toMatchObject({ code: 'LEDGER_FILE_LOST', message: expect.stringContaining('replaced') });
        expect(reasons).toHaveLength(1);
      } finally {
        await inThread.close();
        db.close();
      }
    });
  });
});
