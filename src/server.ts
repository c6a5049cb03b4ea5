import { createServer, type Server } from 'node:http';
import pino, { type Logger } from 'pino';
import { startAlerts } from './alerts';
import { createApp } from './app';
import type { Config } from './config';
import { guardConnections, serverOptions, SHUTDOWN_GRACE_MS } from './http/connections';
import { createMetrics } from './metrics';
import { startRetention } from './retention';
import { describeStorage, openStore } from './store';
import { siprecApiFromConfig } from './twilio/rest';

export interface RunningServer {
  server: Server;
  url: string;
  /**
   * Stops accepting, closes idle and half-sent connections at once, lets in-flight requests finish
   * (for up to SHUTDOWN_GRACE_MS, then cuts them), then closes the database.
   */
  close(): Promise<void>;
}

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: ['*.authorization', '*["x-twilio-signature"]', '*.authToken', '*.adminToken'], censor: '[redacted]' } });
}

export async function startServer(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  // SQLite: writes on a writer thread, off the thread that answers Twilio, with the file watched.
  // PostgreSQL: a pool, migrated under an advisory lock; boot waits up to 30 s for the database.
  const store = await openStore(config.storage, { log: logger });
  const siprecApi = siprecApiFromConfig(config.twilio);
  const metrics = createMetrics();
  const app = createApp({ config, store, logger, metrics, siprecApi });
  const server = createServer(serverOptions(config.http.keepAliveTimeoutSeconds), app);
  const connections = guardConnections(server, { maxConnections: config.http.maxConnections, logger });
  server.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  }).catch(async (err) => {
    await store.close();
    throw err;
  });
  const stopRetention = config.retentionDays
    ? startRetention({ store, retentionDays: config.retentionDays, logger })
    : () => Promise.resolve();
  const stopAlerts = startAlerts({ config, store, logger, metrics });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  logger.info({ url, database: describeStorage(config.storage), routes: config.routes.length }, 'siprec-control listening');

  let closing: Promise<void> | undefined;
  return {
    server,
    url,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        const grace = setTimeout(() => {
          const cut = connections.closeAll();
          logger.error({ cut, graceMs: SHUTDOWN_GRACE_MS }, 'requests still in flight at the end of the shutdown grace: their connections were closed');
        }, SHUTDOWN_GRACE_MS);
        server.close(() => {
          clearTimeout(grace);
          resolve();
        });
        connections.drain();
      })
        .then(stopRetention)
        .then(stopAlerts)
        .then(() => store.close())),
  };
}
