import net from 'node:net';
import pino from 'pino';
import { startPgCluster, type PgCluster } from '../../src/dev/pg-cluster';
import { storeFaults } from '../../src/store/faults';
import { openPostgresStore } from '../../src/store/postgres';
import { StoreUnavailableError, type Store } from '../../src/store/store';
import { callback, newCall, newSession, POLICY } from '../helpers/store-contract';
import { describeWithPostgres, freshPgDatabase, type PgDatabase } from '../helpers/pg';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

/**
 * PostgreSQL's faults, for real: locks held by another connection, a server that accepts TCP and
 * answers nothing (a proxy that stops forwarding), connections frozen for good, a server restarted
 * under the store (booting without one: postgres-boot.test.ts). Every operation has a deadline, and
 * the same store recovers by itself.
 */

const silent = pino({ level: 'silent' });
const PASSWORD = 'pw-Zq8!never-shown';
const withPassword = (url: string, port?: number) => {
  const u = url.replace('postgres://postgres@', `postgres://postgres:${encodeURIComponent(PASSWORD)}@`);
  return port === undefined ? u : u.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`);
};

/** How long a failing call took, and what it failed with. */
async function failure(op: () => Promise<unknown>): Promise<{ err: Error; ms: number }> {
  const started = Date.now();
  try {
    await op();
  } catch (err) {
    return { err: err as Error, ms: Date.now() - started };
  }
  throw new Error('expected the operation to fail');
}

/** Retries `op` until it succeeds or `ms` pass; returns how long it took. */
async function recovers(op: () => Promise<unknown>, ms = 15_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      await op();
      return Date.now() - started;
    } catch (err) {
      if (Date.now() - started > ms) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describeWithPostgres('PostgreSQL store: deadlines', () => {
  let db: PgDatabase;
  let store: Store;
  const WRITE_TIMEOUT_MS = 500;

  beforeEach(async () => {
    db = await freshPgDatabase();
    store = await openPostgresStore({ kind: 'postgres', url: db.url, poolSize: 4 }, { log: silent, writeTimeoutMs: WRITE_TIMEOUT_MS });
  });
  afterEach(async () => {
    await store?.close();
    await db.drop();
  });

  it('fails each write as unavailable within its deadline while another connection holds the tables, and reads go on', async () => {
    const call = newCall();
    await store.recordRequested(call, [newSession('gridspace')]);
    const release = await (await storeFaults({ kind: 'postgres', url: db.url, poolSize: 1 })).holdWrites();
    try {
      const writes = [
        () => store.applyEvent(callback({ callSid: call.callSid }), POLICY),
        () => store.recordRequested(newCall(), [newSession('gridspace')]),
        () => store.reserveStart(call, newSession('rest'), 2),
        () => store.ping(),
      ];
      for (const write of writes) {
        const { err, ms } = await failure(write);
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect(ms).toBeLessThan(WRITE_TIMEOUT_MS + 300);
      }
      expect((await store.getCall(call.callSid))?.sessions).toHaveLength(1);
      expect((await store.listSessions({ limit: 10 })).sessions).toHaveLength(1);
    } finally {
      await release();
    }
    expect(await store.applyEvent(callback({ callSid: call.callSid }), POLICY)).toBe('stored');
  });

  it('keeps its connections when writes queue for them behind held locks: a server that answers is not hung', async () => {
    const warned: string[] = [];
    const log = { warn: (_: object, msg: string) => warned.push(msg), error: () => undefined, info: () => undefined };
    const small = await openPostgresStore({ kind: 'postgres', url: db.url, poolSize: 2 }, { log, writeTimeoutMs: WRITE_TIMEOUT_MS });
    try {
      const release = await (await storeFaults({ kind: 'postgres', url: db.url, poolSize: 1 })).holdWrites();
      try {
        const outcomes = await Promise.all(Array.from({ length: 8 }, () => failure(() => small.recordRequested(newCall(), [newSession('gridspace')]))));
        for (const { err, ms } of outcomes) {
          expect(err).toBeInstanceOf(StoreUnavailableError);
          expect(ms).toBeLessThan(WRITE_TIMEOUT_MS + 300);
        }
      } finally {
        await release();
      }
      expect(warned).toEqual([]);
      await small.recordRequested(newCall(), [newSession('gridspace')]);
    } finally {
      await small.close();
    }
  });
});

describeWithPostgres('PostgreSQL store: a server that accepts connections and answers nothing', () => {
  let db: PgDatabase;
  let proxy: TcpProxy;
  let store: Store;
  const WRITE_TIMEOUT_MS = 800;

  beforeEach(async () => {
    db = await freshPgDatabase();
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(db.url)![1]);
    proxy = await startTcpProxy({ host: '127.0.0.1', port });
    store = await openPostgresStore(
      { kind: 'postgres', url: withPassword(db.url, proxy.port), poolSize: 3 },
      { log: silent, writeTimeoutMs: WRITE_TIMEOUT_MS },
    );
  });
  afterEach(async () => {
    proxy?.resume();
    await store?.close();
    await proxy?.close();
    await db.drop();
  });

  it('answers every operation, more of them than the pool has connections, within its deadline, and recovers once the server answers again', async () => {
    const call = newCall();
    await store.recordRequested(call, [newSession('gridspace')]);
    proxy.hang();
    const started = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        failure(() => (i % 3 === 0 ? store.getCall(call.callSid) : store.applyEvent(callback({ callSid: call.callSid }), POLICY))),
      ),
    );
    for (const { err, ms } of outcomes) {
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).not.toContain(PASSWORD);
      expect(ms).toBeLessThan(WRITE_TIMEOUT_MS + 500);
    }
    // A second wave, after the pool that missed its deadline was dropped: still bounded.
    const again = await failure(() => store.ping());
    expect(again.ms).toBeLessThan(WRITE_TIMEOUT_MS + 500);
    console.log(`hung server: ${outcomes.length + 1} operations failed within ${Date.now() - started} ms in all`);
    proxy.resume();
    const took = await recovers(() => store.applyEvent(callback({ callSid: call.callSid }), POLICY));
    console.log(`hung server: the same store wrote again ${took} ms after the server answered again`);
    expect((await store.getCall(call.callSid))?.sessions[0]?.events.length).toBeGreaterThanOrEqual(1);
  });
});

/**
 * A proxy whose open connections can be frozen for good (not one byte more either way, never closed),
 * while new ones go through: what a client sees when its server's host froze and another took its
 * address, or a network path died without a reset. Only ending those connections frees the pool.
 */
async function startFreezingProxy(target: number): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  const links = new Set<{ client: net.Socket; upstream: net.Socket; frozen: boolean }>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    const link = { client, upstream, frozen: false };
    links.add(link);
    client.on('data', (d) => link.frozen || upstream.write(d));
    upstream.on('data', (d) => link.frozen || client.write(d));
    const drop = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    // A frozen link never tells the client anything, not even that it ended.
    client.on('close', drop);
    client.on('error', drop);
    upstream.on('error', () => link.frozen || drop());
    upstream.on('close', () => link.frozen || drop());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    freeze: () => links.forEach((l) => (l.frozen = true)),
    close: async () => {
      links.forEach((l) => {
        l.client.destroy();
        l.upstream.destroy();
      });
      await new Promise((r) => server.close(r));
    },
  };
}

describeWithPostgres('PostgreSQL store: connections that hang for good', () => {
  it('drops the connections that missed their deadline, so the pool does not stay clogged', async () => {
    const db = await freshPgDatabase();
    const proxy = await startFreezingProxy(Number(/127\.0\.0\.1:(\d+)/.exec(db.url)![1]));
    const store = await openPostgresStore({ kind: 'postgres', url: withPassword(db.url, proxy.port), poolSize: 2 }, { log: silent, writeTimeoutMs: 800 });
    try {
      const call = newCall();
      await Promise.all([store.recordRequested(call, [newSession('gridspace')]), store.getCall(call.callSid)]);
      proxy.freeze();
      const hung = await Promise.all([1, 2, 3].map(() => failure(() => store.applyEvent(callback({ callSid: call.callSid }), POLICY))));
      for (const { err, ms } of hung) {
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect(ms).toBeLessThan(1300);
      }
      const took = await recovers(() => store.applyEvent(callback({ callSid: call.callSid }), POLICY), 5000);
      console.log(`frozen connections: the store wrote again on fresh ones ${took} ms later`);
    } finally {
      await store.close();
      await proxy.close();
      await db.drop();
    }
  });
});

describeWithPostgres('PostgreSQL store: a server restarted under it', () => {
  let cluster: PgCluster;
  let store: Store;
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);

  beforeAll(async () => {
    cluster = await startPgCluster();
    cluster.createDatabase('ledger');
    process.on('unhandledRejection', onUnhandled);
  }, 60_000);
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await store?.close();
    cluster?.destroy();
  });

  it('fails fast while the server is down, never crashes on its idle connections, and recovers by itself', async () => {
    store = await openPostgresStore({ kind: 'postgres', url: withPassword(cluster.url('ledger')), poolSize: 4 }, { log: silent, writeTimeoutMs: 1000 });
    const call = newCall();
    await store.recordRequested(call, [newSession('gridspace')]);
    await Promise.all([store.getCall(call.callSid), store.ping(), store.countSessionsByState()]);
    cluster.stop('immediate');
    const down = await failure(() => store.applyEvent(callback({ callSid: call.callSid }), POLICY));
    expect(down.err).toBeInstanceOf(StoreUnavailableError);
    expect(down.err.message).not.toContain(PASSWORD);
    expect(down.ms).toBeLessThan(1500);
    cluster.start();
    const took = await recovers(() => store.applyEvent(callback({ callSid: call.callSid }), POLICY));
    console.log(`restart: the same store wrote again ${took} ms after the server was back`);
    await new Promise((r) => setTimeout(r, 200));
    expect(unhandled).toEqual([]);
  }, 60_000);
});
