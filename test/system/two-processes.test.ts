import { readdirSync, readlinkSync } from 'node:fs';
import Database from 'better-sqlite3';
import { buildSignedCallbacks, missingOrDoubled, readLedger, sendCallbacks } from '../helpers/callback-load';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

const SESSIONS = 600; // 1,200 callbacks
const CLIENTS = 16;

/** Requests a process acknowledged, from its own request log (whose path may lack the /twilio mount). */
const served = (p: ServerProcess) => (p.output().match(/"path":"(?:\/twilio)?\/siprec-status","status":204/g) ?? []).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await sleep(25);
  }
}

/** Other processes holding `file` open (Linux /proc): a booting server has reached its database. */
function processesWithOpen(file: string): number {
  let n = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      if (readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`) === file)) n++;
    } catch {
      // The process ended, or is not ours to look at.
    }
  }
  return n;
}

const BUSY = /SQLITE_BUSY|database is locked|NOT stored|"level":50/;

describe('two server processes on one database file (a rolling restart)', () => {
  let dir: TempDir;
  const started: ServerProcess[] = [];
  beforeAll(() => (dir = tempDir()));
  afterAll(() => {
    for (const p of started) p.child.kill('SIGKILL');
    dir.remove();
  });

  it('takes callbacks on both at once with no 5xx, no SQLITE_BUSY and nothing lost', async () => {
    const env = testEnv(dir);
    const callbacks = buildSignedCallbacks(SESSIONS);
    const old = await startServerProcess(env);
    started.push(old);
    // Like a load balancer: every live process in turn; a draining one gets no new requests.
    let pool: ServerProcess[] = [old];
    let turn = 0;
    let next: ServerProcess | undefined;
    let rollout: Promise<void> | undefined;
    let drained: Promise<number | string> | undefined;
    let bothUp = 0;

    const result = await sendCallbacks(callbacks, {
      clients: CLIENTS,
      target: () => pool[turn++ % pool.length]!.url,
      onAck: (f) => {
        // The new process boots (and runs its migrations) while the old one is writing.
        if (!rollout && f.acknowledged >= callbacks.length * 0.1) {
          rollout = startServerProcess(env).then((p) => {
            started.push(p);
            next = p;
            pool = [old, p];
            bothUp = f.acknowledged;
          });
        }
        if (next && pool.length === 2 && f.acknowledged >= bothUp + callbacks.length * 0.5) {
          // Deregister first, then stop it once its last requests are answered, as a balancer does.
          pool = [next];
          drained = sleep(300).then(() => {
            old.child.kill('SIGTERM');
            return old.exited;
          });
        }
      },
    });
    await rollout;
    expect(drained).toBeDefined();
    const oldExit = await drained;
    next!.child.kill('SIGTERM');
    const newExit = await next!.exited;

    const ledger = readLedger(env.DATABASE_PATH!);
    const lost = missingOrDoubled(result.acked, ledger.counts);
    const figures = {
      sent: result.sent,
      acknowledged: result.acked.size,
      stored: ledger.stored,
      lost: lost.length,
      byOldProcess: served(old),
      byNewProcess: served(next!),
      answered503: result.unavailable,
      droppedConnections: result.connectionFailures,
      integrity: ledger.integrity,
    };
    console.log(`two processes: ${JSON.stringify(figures)}`);

    expect(result.unexpected).toEqual([]);
    expect(result.unavailable).toBe(0);
    expect(result.connectionFailures).toBe(0);
    for (const p of [old, next!]) expect(p.output()).not.toMatch(BUSY);
    // Both really wrote: a real share of the callbacks went to each while both were up.
    expect(figures.byOldProcess).toBeGreaterThan(callbacks.length * 0.3);
    expect(figures.byNewProcess).toBeGreaterThan(callbacks.length * 0.2);
    expect(figures.byOldProcess + figures.byNewProcess).toBe(callbacks.length);
    expect(result.acked.size).toBe(callbacks.length);
    expect(lost).toEqual([]);
    expect(ledger.stored).toBe(callbacks.length);
    expect(ledger.integrity).toBe('ok');
    expect(ledger.sessionStates).toEqual({ stopped: SESSIONS });
    expect([oldExit, newExit]).toEqual([0, 0]);
  }, 120_000);

  it('boots two processes at once on a database with migrations pending: both listen, none applied twice', async () => {
    const file = dir.file('fresh.sqlite');
    const env = testEnv(dir, undefined, { DATABASE_PATH: file });
    // A new database with only the bookkeeping table: every migration is pending. Holding its write
    // lock lets both processes read "version 0" and queue for the same first migration, as two
    // replicas of a new release booting together would.
    const holder = new Database(file);
    holder.pragma('journal_mode = WAL');
    holder.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
    holder.exec('BEGIN IMMEDIATE');
    const booting = [startServerProcess(env), startServerProcess(env)];
    try {
      await waitFor(() => processesWithOpen(file) >= 2, 10_000);
      await sleep(300);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    const boots = await Promise.allSettled(booting);
    for (const b of boots) if (b.status === 'fulfilled') started.push(b.value);
    expect(boots.map((b) => (b.status === 'rejected' ? String(b.reason).split('\n').find((l) => /SQLITE|exists|failed/.test(l)) : 'listening'))).toEqual([
      'listening',
      'listening',
    ]);

    const pair = boots.map((b) => (b as PromiseFulfilledResult<ServerProcess>).value);
    const callbacks = buildSignedCallbacks(50);
    let turn = 0;
    const result = await sendCallbacks(callbacks, { clients: CLIENTS, target: () => pair[turn++ % 2]!.url });
    for (const p of pair) p.child.kill('SIGTERM');
    const exits = await Promise.all(pair.map((p) => p.exited));
    const ledger = readLedger(file);
    const lost = missingOrDoubled(result.acked, ledger.counts);
    console.log(`two processes, booted together: ${JSON.stringify({ sent: result.sent, acknowledged: result.acked.size, stored: ledger.stored, lost: lost.length })}`);
    expect(result.unexpected).toEqual([]);
    expect(result.unavailable).toBe(0);
    expect(lost).toEqual([]);
    expect(ledger.stored).toBe(callbacks.length);
    expect(exits).toEqual([0, 0]);
  }, 60_000);
});
