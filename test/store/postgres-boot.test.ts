import pino from 'pino';
import { freePort } from '../../src/dev/pg-cluster';
import { openPostgresStore } from '../../src/store/postgres';
import { describeWithPostgres, freshPgDatabase } from '../helpers/pg';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

/**
 * Booting on PostgreSQL: a one-shot command tries once; a server keeps trying for 30 s (a database
 * and its services often start together), logging host:port at each attempt. Never the password.
 */

const silent = pino({ level: 'silent' });
const PASSWORD = 'pw-Zq8!never-shown';
const withPassword = (url: string, port?: number) => {
  const u = url.replace('postgres://postgres@', `postgres://postgres:${encodeURIComponent(PASSWORD)}@`);
  return port === undefined ? u : u.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`);
};

async function failure(op: () => Promise<unknown>): Promise<{ err: Error; ms: number }> {
  const started = Date.now();
  try {
    await op();
  } catch (err) {
    return { err: err as Error, ms: Date.now() - started };
  }
  throw new Error('expected the operation to fail');
}

describeWithPostgres('PostgreSQL store: boot', () => {
  it('a one-shot command tries once and names host:port, never the password', async () => {
    const port = await freePort();
    const url = withPassword(`postgres://postgres@127.0.0.1:${port}/ledger`);
    const { err, ms } = await failure(() => openPostgresStore({ kind: 'postgres', url, poolSize: 2 }, { log: silent, mode: 'cli' }));
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).not.toContain(PASSWORD);
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain(PASSWORD);
    expect(ms).toBeLessThan(7000);
  });

  it('a server keeps trying, logging host:port at each attempt, and starts once the database answers', async () => {
    const db = await freshPgDatabase();
    const port = await freePort();
    const logged: Array<{ obj: object; msg: string }> = [];
    const log = { warn: (obj: object, msg: string) => logged.push({ obj, msg }), error: () => undefined, info: () => undefined };
    let proxy: TcpProxy | undefined;
    // The database "starts" 3 s after the service: a proxy to it begins listening on the URL's port.
    const late = setTimeout(() => {
      void startTcpProxy({ host: '127.0.0.1', port: Number(/127\.0\.0\.1:(\d+)/.exec(db.url)![1]) }, { listenPort: port }).then((p) => (proxy = p));
    }, 3000);
    try {
      const store = await openPostgresStore({ kind: 'postgres', url: withPassword(db.url, port), poolSize: 2 }, { log, mode: 'server' });
      await store.ping();
      await store.close();
      expect(logged.length).toBeGreaterThanOrEqual(2);
      for (const { obj, msg } of logged) {
        expect(JSON.stringify(obj) + msg).toContain(`127.0.0.1:${port}`);
        expect(JSON.stringify(obj) + msg).not.toContain(PASSWORD);
      }
    } finally {
      clearTimeout(late);
      await proxy?.close();
      await db.drop();
    }
  }, 40_000);

  it('a server gives up after 30 s, naming host:port', async () => {
    const port = await freePort();
    const started = Date.now();
    const { err } = await failure(() =>
      openPostgresStore({ kind: 'postgres', url: withPassword(`postgres://postgres@127.0.0.1:${port}/ledger`), poolSize: 2 }, { log: silent }),
    );
    const took = Date.now() - started;
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).not.toContain(PASSWORD);
    expect(took).toBeGreaterThanOrEqual(29_000);
    expect(took).toBeLessThan(36_000);
  }, 45_000);
});
