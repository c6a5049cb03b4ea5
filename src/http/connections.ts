import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';

/**
 * Node's defaults let a client take 60 s to send its headers and 300 s for its body, which is how a
 * few thousand slow connections held the voice webhook offline. Twilio sends a whole request in
 * milliseconds and gives up on an answer after 15 s, so nothing genuine comes near these.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
/**
 * Node checks both deadlines only this often (30 s by default), so a trickler lives up to
 * HEADERS_TIMEOUT_MS plus this. The check walks the open connections: cheap even at MAX_CONNECTIONS.
 */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

/** How long shutdown waits for requests in flight before it closes their connections too. */
export const SHUTDOWN_GRACE_MS = 8_000;
const SHED_LOG_EVERY_MS = 10_000;
/**
 * Below the hard cap, a connection that has waited on its client for less than this is never shed: a
 * genuine client sends its request right after connecting, so a burst of them must not shed one
 * another mid-arrival.
 */
const SHED_MIN_AGE_MS = 1_000;

export function serverOptions(keepAliveTimeoutSeconds: number): ServerOptions {
  return {
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    keepAliveTimeout: keepAliveTimeoutSeconds * 1000,
  };
}

export interface ConnectionGuard {
  /**
   * Shutdown, after server.close(): closes at once every connection with no request in progress
   * (never used, idle between keep-alive requests, or still sending its headers), each one whose
   * body has not arrived once it has waited SHED_MIN_AGE_MS, and each other one as soon as its
   * response is sent. Without this, one idle or slow socket held close() open until the forced exit
   * (or the grace), with the database left unclosed and calls refused meanwhile.
   */
  drain(): void;
  /** The end of the grace: closes every connection still open; returns how many had a request in flight. */
  closeAll(): number;
}

interface Conn {
  readonly socket: Socket;
  /** When it began to wait on its client; performance.now(), so that a clock step spares or dooms nobody. */
  since: number;
  /** The request whose body is still arriving, if its headers are in; undefined while it waits for headers. */
  receiving: IncomingMessage | undefined;
  /** Responses not yet sent: more than one when the client pipelines. */
  readonly responses: Set<ServerResponse>;
  prev: Conn | undefined;
  next: Conn | undefined;
  queued: boolean;
}

/**
 * The connections waiting on their clients, longest first. A linked list, because the guard removes
 * from the middle (a request arrives) and the front (a shed) on every connection: a Map used as a queue
 * keeps a hole per deleted key that every look at its first entry walks again, O(n) per new connection.
 */
class WaitQueue {
  first: Conn | undefined;
  private last: Conn | undefined;

  push(c: Conn): void {
    if (c.queued) this.remove(c);
    c.prev = this.last;
    c.next = undefined;
    if (this.last) this.last.next = c;
    else this.first = c;
    this.last = c;
    c.queued = true;
  }

  remove(c: Conn): void {
    if (!c.queued) return;
    if (c.prev) c.prev.next = c.next;
    else this.first = c.next;
    if (c.next) c.next.prev = c.prev;
    else this.last = c.prev;
    c.prev = c.next = undefined;
    c.queued = false;
  }

  toArray(): Conn[] {
    const all: Conn[] = [];
    for (let c = this.first; c; c = c.next) all.push(c);
    return all;
  }
}

/**
 * Caps connections and keeps room for genuine ones under a slow-connection flood.
 *
 * `server.maxConnections` is the hard cap that protects the file-descriptor limit, but Node drops
 * every connection that arrives once it is reached, so on its own a flood of slow clients would keep
 * Twilio out until they time out, and a steady flood would keep it out for good. So from 90% of the
 * cap, each new connection closes the connection that has waited longest on its client, if it has
 * waited SHED_MIN_AGE_MS: one still sending its headers, one whose headers are in but whose body is
 * still arriving, or one idle between keep-alive requests. When the new one takes the last slot, the
 * longest-waiting goes whatever its age, so that the next arrival is not dropped (dropping it would
 * lose as much as shedding).
 * A genuine request is whole within milliseconds, so it is never the longest-waiting for long, while
 * a slow client is; an idle keep-alive connection costs its owner only a reconnect. A connection whose
 * request is whole is never shed, whatever its handler waits for (the ledger, Twilio).
 */
export function guardConnections(server: Server, options: { maxConnections: number; logger: Logger }): ConnectionGuard {
  const { maxConnections, logger } = options;
  server.maxConnections = maxConnections;
  const shedFrom = maxConnections - Math.max(1, Math.floor(maxConnections / 10));
  const conns = new Map<Socket, Conn>();
  const waiting = new WaitQueue();
  let draining = false;
  let sweeper: NodeJS.Timeout | undefined;
  let shed = 0;
  let shedLoggedAt = -Infinity;
  let dropped = 0;
  let droppedLoggedAt = -Infinity;

  const close = (c: Conn) => {
    waiting.remove(c);
    conns.delete(c.socket);
    c.socket.destroy();
  };

  /** The connection waiting longest on its client; forgets on the way those that stopped waiting. */
  const longestWaiting = (): Conn | undefined => {
    for (let c = waiting.first; c; c = waiting.first) {
      // Closed by Node's own timeouts ('close' comes later), or its request is whole and being answered.
      if (c.socket.destroyed) close(c);
      else if (c.receiving?.complete) waiting.remove(c);
      else return c;
    }
    return undefined;
  };

  const noteShed = () => {
    shed++;
    const now = performance.now();
    if (now - shedLoggedAt < SHED_LOG_EVERY_MS) return;
    logger.warn(
      { shed, open: conns.size, maxConnections },
      'connections near MAX_CONNECTIONS: closing those that have waited longest on their clients (headers, a body, or a next request)',
    );
    shedLoggedAt = now;
    shed = 0;
  };

  // Only when every connection has a request being answered, so none could be shed: worth an operator's look.
  server.on('drop', () => {
    dropped++;
    const now = performance.now();
    if (now - droppedLoggedAt < SHED_LOG_EVERY_MS) return;
    logger.error({ dropped, maxConnections }, 'MAX_CONNECTIONS reached with a request in flight on every connection: new connections are refused');
    droppedLoggedAt = now;
    dropped = 0;
  });

  function forget(this: Socket) {
    const c = conns.get(this);
    if (c) {
      waiting.remove(c);
      conns.delete(this);
    }
  }

  server.on('connection', (socket: Socket) => {
    if (draining) return void socket.destroy();
    const now = performance.now();
    const open = conns.size;
    if (open >= shedFrom) {
      const oldest = longestWaiting();
      if (oldest && (open + 1 >= maxConnections || now - oldest.since >= SHED_MIN_AGE_MS)) {
        close(oldest);
        noteShed();
      }
    }
    const conn: Conn = { socket, since: now, receiving: undefined, responses: new Set(), prev: undefined, next: undefined, queued: false };
    conns.set(socket, conn);
    waiting.push(conn);
    socket.once('close', forget);
  });

  // Before the app's listener, so the request is counted before any handler can answer it.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const conn = conns.get(req.socket);
    if (!conn) return;
    if (draining && !res.headersSent) res.setHeader('Connection', 'close');
    conn.responses.add(res);
    if (conn.responses.size === 1) {
      // Waits on its client until its body is in: Node parses it after this event, even when it came with the headers.
      conn.since = performance.now();
      conn.receiving = req;
      waiting.push(conn);
    } else {
      // Pipelined behind a request still being answered, which must not be cut.
      waiting.remove(conn);
    }
    res.once('close', () => {
      conn.responses.delete(res);
      if (conn.responses.size > 0 || conn.socket.destroyed) return;
      conn.receiving = undefined;
      // Sent: under shutdown the connection goes once the response is flushed, otherwise it waits for the next request.
      if (draining) {
        waiting.remove(conn);
        conn.socket.end(() => conn.socket.destroy());
      } else {
        conn.since = performance.now();
        waiting.push(conn);
      }
    });
  });

  /** Under shutdown: nothing is coming that a caller waits for from a client that has waited this long. */
  const sweep = () => {
    const now = performance.now();
    for (const c of waiting.toArray()) {
      if (c.receiving?.complete) waiting.remove(c);
      else if (!c.receiving || now - c.since >= SHED_MIN_AGE_MS) close(c);
    }
  };
  const stopSweeping = () => clearInterval(sweeper);
  server.once('close', stopSweeping);

  return {
    drain() {
      draining = true;
      for (const c of conns.values()) {
        for (const res of c.responses) if (!res.headersSent) res.setHeader('Connection', 'close');
      }
      sweep();
      // A body younger than a second may still be on its way; look again until the server has closed.
      sweeper = setInterval(sweep, SHED_MIN_AGE_MS);
      sweeper.unref();
    },
    closeAll() {
      stopSweeping();
      let cut = 0;
      for (const c of [...conns.values()]) {
        if (c.responses.size > 0) cut++;
        close(c);
      }
      server.closeAllConnections();
      return cut;
    },
  };
}
