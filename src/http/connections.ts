import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
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
 * Below the hard cap, a connection younger than this is never shed: a genuine client sends its
 * headers right after connecting, so a burst of them must not shed one another mid-arrival.
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
   * (never used, idle between keep-alive requests, or still sending its headers), and each other one
   * as soon as its response is sent. Without this, one idle socket held close() open until the
   * forced exit, with the database left unclosed.
   */
  drain(): void;
  /** The end of the grace: closes every connection still open; returns how many had a request in flight. */
  closeAll(): number;
}

/**
 * Caps connections and keeps room for genuine ones under a slow-connection flood.
 *
 * `server.maxConnections` is the hard cap that protects the file-descriptor limit, but Node drops
 * every connection that arrives once it is reached, so on its own a flood of slow clients would keep
 * Twilio out until their headers time out, and a steady flood would keep it out for good. So from
 * 90% of the cap, each new connection closes the oldest connection that has no request in progress:
 * one that has not finished its headers (a slow client) or sits idle between keep-alive requests,
 * if it has waited SHED_MIN_AGE_MS; and when the new one takes the last slot, the oldest whatever its
 * age, so that the next arrival is not dropped (dropping it would lose as much as shedding).
 * A genuine request has its headers in within milliseconds, so it is never the oldest of those for
 * long, while a slow client is; and an idle keep-alive connection costs its owner only a reconnect.
 * Connections with a request in flight are never shed: REQUEST_TIMEOUT_MS bounds those.
 */
export function guardConnections(server: Server, options: { maxConnections: number; logger: Logger }): ConnectionGuard {
  const { maxConnections, logger } = options;
  server.maxConnections = maxConnections;
  const shedFrom = maxConnections - Math.max(1, Math.floor(maxConnections / 10));
  // Since when each connection has waited with no request in progress. Insertion order is age order:
  // the first key is the one waiting longest. One that goes idle after a response is re-inserted.
  const waiting = new Map<Socket, number>();
  const inFlight = new Map<Socket, Set<ServerResponse>>();
  let draining = false;
  let shed = 0;
  let shedLoggedAt = 0;
  let dropped = 0;
  let droppedLoggedAt = 0;

  const noteShed = () => {
    shed++;
    const now = Date.now();
    if (now - shedLoggedAt < SHED_LOG_EVERY_MS) return;
    logger.warn(
      { shed, open: waiting.size + inFlight.size, maxConnections },
      'connections near MAX_CONNECTIONS: closing the oldest that have not sent their headers or sit idle',
    );
    shedLoggedAt = now;
    shed = 0;
  };

  // Only when every connection has a request in flight, so none could be shed: worth an operator's look.
  server.on('drop', () => {
    dropped++;
    const now = Date.now();
    if (now - droppedLoggedAt < SHED_LOG_EVERY_MS) return;
    logger.error({ dropped, maxConnections }, 'MAX_CONNECTIONS reached with a request in flight on every connection: new connections are refused');
    droppedLoggedAt = now;
    dropped = 0;
  });

  server.on('connection', (socket: Socket) => {
    if (draining) return void socket.destroy();
    const open = waiting.size + inFlight.size;
    const now = Date.now();
    if (open >= shedFrom) {
      const oldest = waiting.entries().next();
      if (!oldest.done && (open + 1 >= maxConnections || now - oldest.value[1] >= SHED_MIN_AGE_MS)) {
        waiting.delete(oldest.value[0]);
        oldest.value[0].destroy();
        noteShed();
      }
    }
    waiting.set(socket, now);
    socket.once('close', () => {
      waiting.delete(socket);
      inFlight.delete(socket);
    });
  });

  // Before the app's listener, so the request is counted before any handler can answer it.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    waiting.delete(socket);
    let responses = inFlight.get(socket);
    if (!responses) inFlight.set(socket, (responses = new Set()));
    responses.add(res);
    if (draining && !res.headersSent) res.setHeader('Connection', 'close');
    res.once('close', () => {
      responses.delete(res);
      if (responses.size > 0 || socket.destroyed) return;
      inFlight.delete(socket);
      // Sent: under shutdown the connection goes once the response is flushed, otherwise it waits for the next request.
      if (draining) socket.end(() => socket.destroy());
      else waiting.set(socket, Date.now());
    });
  });

  return {
    drain() {
      draining = true;
      for (const socket of waiting.keys()) socket.destroy();
      waiting.clear();
      for (const responses of inFlight.values()) {
        for (const res of responses) if (!res.headersSent) res.setHeader('Connection', 'close');
      }
    },
    closeAll() {
      const cut = inFlight.size;
      for (const socket of [...waiting.keys(), ...inFlight.keys()]) socket.destroy();
      server.closeAllConnections();
      return cut;
    },
  };
}
