import net from 'node:net';
import postgres from 'postgres';
import type { LedgerLog } from '../store';
import { StoreUnavailableError, storeUnavailable } from '../store';
import { pgTls } from './tls';
import { databaseHosts } from './url';

/** No custom types: int8's parser is replaced (createPool), not added. */
type NoCustomTypes = Record<string, never>;
export type Sql = postgres.Sql<NoCustomTypes>;
export type Tx = postgres.TransactionSql<NoCustomTypes>;

/** The transaction the ledger's writes use (postgres.js `begin` options). */
export const READ_WRITE = 'read write';

/** What postgres.js passes a socket factory: the URL's hosts and ports, in order. */
interface HostList {
  host: string[];
  port: number[];
}

/**
 * Opens the pool's sockets, as postgres.js would, with two changes. With several hosts postgres.js
 * moves to the next host at once after a refusal, so with every host down (the moment between a
 * primary's death and a standby's promotion) each waiting connection retries in a tight loop; here
 * the attempts after a failure back off (capped at 1 s), and a success resets that. And the sockets
 * are known, so that a pool given up on is destroyed at once rather than closed politely to a server
 * that does not answer.
 */
function socketFactory() {
  const open = new Set<net.Socket>();
  let next = 0;
  let failures = 0;
  let lastFailure = 0;
  let destroyed = false;
  const connect = async (o: HostList): Promise<net.Socket> => {
    const wait = failures > 0 ? lastFailure + Math.min(50 * 2 ** (failures - 1), 1000) - Date.now() : 0;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (destroyed) throw new Error('the pool was given up on');
    const i = next % o.host.length;
    next = i + 1;
    const host = o.host[i]!;
    const port = o.port[i] ?? o.port[0] ?? 5432;
    const socket = host.startsWith('/') ? net.connect(`${host}/.s.PGSQL.${port}`) : net.connect(port, host);
    Object.assign(socket, { host, port });
    open.add(socket);
    socket.once('connect', () => (failures = 0));
    socket.once('error', () => {
      failures += 1;
      lastFailure = Date.now();
    });
    socket.once('close', () => open.delete(socket));
    return socket;
  };
  const destroyAll = () => {
    destroyed = true;
    open.forEach((s) => s.destroy());
  };
  return { connect, destroyAll };
}

export interface PoolOptions {
  max: number;
  applicationName: string;
  /** Server-side limits on each statement and lock wait; 0 for none (migrations). */
  statementTimeoutMs: number;
  connectTimeoutSeconds: number;
}

/**
 * A postgres.js pool as the ledger needs it:
 * - int8 (bigint, count(*)) read as a JS number: times are integer milliseconds, far below 2^53;
 * - TCP keepalive, and a short connect timeout, so that a dead host is noticed;
 * - reconnection backoff capped at one second, so that a promoted standby is found quickly;
 * - statement_timeout and lock_timeout set as connection parameters, so a lock held elsewhere (or
 *   a slow plan) fails on the server before the client-side deadline drops the connection;
 *   idle_in_transaction_session_timeout frees the locks of a client that vanished mid-transaction.
 */
export function createPool(url: string, o: PoolOptions): Sql {
  const sockets = socketFactory();
  const limits: Record<string, string> =
    o.statementTimeoutMs > 0
      ? {
          statement_timeout: String(o.statementTimeoutMs),
          lock_timeout: String(o.statementTimeoutMs),
          idle_in_transaction_session_timeout: String(o.statementTimeoutMs * 2 + 1000),
        }
      : { statement_timeout: '0', lock_timeout: '0' };
  const tls = pgTls(url);
  const sql = postgres(tls.url, {
    max: o.max,
    ...(tls.ssl ? { ssl: tls.ssl } : {}),
    socket: sockets.connect,
    onnotice: () => undefined,
    // fetch_types stays on: with it off, postgres.js 3.4.9 never hands out reserve() on a new connection.
    connect_timeout: o.connectTimeoutSeconds,
    keep_alive: 10,
    idle_timeout: 120,
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1),
    types: { bigint: { to: 20, from: [20], parse: (x: string) => Number(x), serialize: (x: number) => String(x) } },
    // Startup parameters: each is the session's default from its first statement on.
    connection: { application_name: o.applicationName, tcp_keepalives_idle: '10', ...limits },
  } as unknown as postgres.Options<NoCustomTypes>) as unknown as Sql;
  destroyers.set(sql, sockets.destroyAll);
  return sql;
}

const destroyers = new WeakMap<Sql, () => void>();

/** Ends the pool at once: its queries fail, its sockets are destroyed (not closed politely). */
export async function destroyPool(sql: Sql): Promise<void> {
  await sql.end({ timeout: 0 }).catch(() => undefined);
  // After postgres.js has let go of them: a socket destroyed earlier would be reconnected.
  destroyers.get(sql)?.();
}

/** Removes the password from a message: a driver or server error should never carry it, but make sure. */
export function scrubPassword(message: string, url: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(url);
  const colon = m?.[1]?.indexOf(':') ?? -1;
  const raw = colon >= 0 ? m![1]!.slice(colon + 1) : '';
  const fromQuery = /[?&]password=([^&#]*)/i.exec(url)?.[1] ?? '';
  let out = message;
  for (const secret of [raw, fromQuery]) {
    if (secret.length < 1) continue;
    for (const form of new Set([secret, safeDecode(secret)])) out = out.split(form).join('***');
  }
  return out;
}

const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** Thrown inside a transaction to roll it back: nothing it wrote is kept, and `result` is its answer. */
export class Rollback<T> extends Error {
  constructor(readonly result: T) {
    super('rolled back on purpose');
    this.name = 'Rollback';
  }
}

/** SQLSTATE read_only_sql_transaction: a write on a standby. */
const READ_ONLY_TRANSACTION = '25006';

export interface Deadlined {
  /** The pool in use now: it is replaced after a deadline the server did not answer within. */
  readonly sql: Sql;
  readonly hosts: string;
  /**
   * Runs `fn` against the pool and gives up after `ms`: StoreUnavailableError either way it fails.
   * `expired()` tells a transaction that began after its caller had given up (it waited for a
   * connection) not to write anything.
   */
  run<T>(what: string, ms: number, fn: (sql: Sql, expired: () => boolean) => Promise<T>): Promise<T>;
  /** A transaction under run(): one that begins too late rolls back without writing; see Rollback. */
  tx<T>(what: string, ms: number, fn: (tx: Tx) => Promise<T>, mode?: string): Promise<T>;
  end(): Promise<void>;
}

/**
 * The deadlines on a pool. A hung server (the TCP connection accepted, nothing answered) answers no
 * statement_timeout: the client side gives up on its own. The connection that missed its deadline
 * cannot be told apart in postgres.js, and a server that does not answer one query answers none, so
 * when nothing on the pool has been answered for a whole deadline, the pool is dropped (its sockets
 * destroyed, its queued queries failed) and a fresh one takes its place; postgres.js itself
 * reconnects after a restart or a failover.
 */
export function deadlined(url: string, make: () => Sql, log: LedgerLog): Deadlined {
  const hosts = databaseHosts(url).join(',');
  let sql = make();
  let ended = false;
  // When the pool in use last heard anything from the server (a result or an error).
  let lastAnswerAt = Date.now();

  const recycle = (stale: Sql) => {
    if (ended || stale !== sql) return;
    lastAnswerAt = Date.now();
    log.warn({ hosts }, 'PostgreSQL did not answer in time, or took no writes: its connections are dropped and opened afresh');
    sql = make();
    void destroyPool(stale);
  };

  const run = async <T>(what: string, ms: number, fn: (sql: Sql, expired: () => boolean) => Promise<T>): Promise<T> => {
    const used = sql;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new StoreUnavailableError(`${what} failed: PostgreSQL (${hosts}) did not answer within ${ms} ms`));
        // Only a server silent for a whole deadline costs the pool: a miss while others get answers
        // is a wait for a connection or a lock, and dropping every connection under load would fail
        // the work in flight and feed the overload.
        if (Date.now() - lastAnswerAt >= ms) recycle(used);
      }, ms);
    });
    const heard = () => {
      if (used === sql) lastAnswerAt = Date.now();
    };
    const work = fn(used, () => timedOut);
    work.then(heard, heard);
    try {
      // race() subscribes to the work: its rejection after the deadline is handled, not unhandled.
      return await Promise.race([work, deadline]);
    } catch (err) {
      // A host that became a standby under open connections (a failover the other way, a demoted
      // primary) refuses every write on them: reconnecting lets target_session_attrs find the primary.
      if ((err as { code?: unknown }).code === READ_ONLY_TRANSACTION) recycle(used);
      const unavailable = storeUnavailable(what, err);
      unavailable.message = scrubPassword(unavailable.message, url);
      throw unavailable;
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    get sql() {
      return sql;
    },
    hosts,
    run,
    tx: <T>(what: string, ms: number, fn: (tx: Tx) => Promise<T>, mode = READ_WRITE) =>
      run(what, ms, (pool, expired) =>
        pool.begin(mode, async (tx) => {
          if (expired()) throw new StoreUnavailableError(`${what}: began after its deadline, rolled back`);
          return fn(tx);
        }).catch((err: unknown) => {
          if (err instanceof Rollback) return err.result as T;
          throw err;
        }) as Promise<T>,
      ),
    end: async () => {
      ended = true;
      await sql.end({ timeout: 5 });
    },
  };
}
