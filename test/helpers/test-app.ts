import type { RequestListener } from 'node:http';
import pino, { type Logger } from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { createMetrics, type Metrics } from '../../src/metrics';
import { createSqliteStore } from '../../src/store/sqlite';
import { openDatabase, type OpenOptions } from '../../src/store/sqlite/open';
import { writerThread } from '../../src/store/sqlite/writer-thread';
import type { Store } from '../../src/store/store';
import { siprecApiFromConfig, type SiprecApi } from '../../src/twilio/rest';
import { DEFAULT_TEST_ROUTES, TEST_PUBLIC_BASE_URL, tempDir, testEnv, type TempDir } from './env';
import { sign } from './twilio-requests';
import Database from 'better-sqlite3';

export interface TestApp {
  app: RequestListener;
  config: Config;
  store: Store;
  db: Database.Database;
  metrics: Metrics;
  siprecApi: SiprecApi;
  dir: TempDir;
  /** POSTs a form to `path`, signed as Twilio would sign it for PUBLIC_BASE_URL + path. */
  postTwilio(path: string, form: Record<string, string>, token?: string): request.Test;
  /** GETs `path` (with its query) signed as Twilio would. */
  getTwilio(path: string, token?: string): request.Test;
  /**
   * Holds the database's write lock from another connection until the returned release is called:
   * a real fault for the writer thread, which then fails after its busy timeout (options.db).
   */
  holdWriteLock(): () => void;
  close(): Promise<void>;
}

export interface TestAppOptions {
  routes?: unknown;
  env?: Record<string, string>;
  db?: OpenOptions;
  clock?: () => number;
  /** Where the app logs; silent by default. A test that asserts a log line passes its own. */
  logger?: Logger;
  /** A fake Twilio REST API (src/dev/fake-twilio) to send REST calls to; without one they go to a closed port on 127.0.0.1. */
  twilio?: { url: string };
}

/** Nothing listens on the discard port: REST calls fail fast as unreachable and never leave the machine. */
export const UNREACHABLE_TWILIO = 'http://127.0.0.1:9';

/** The real app over a fresh SQLite file with the real migrations. */
export function createTestApp(options: TestAppOptions = {}): TestApp {
  const dir = tempDir();
  const config = loadConfig(
    testEnv(dir, options.routes ?? DEFAULT_TEST_ROUTES, { TWILIO_API_BASE_URL: options.twilio?.url ?? UNREACHABLE_TWILIO, ...options.env }),
  );
  const db = openDatabase(config.databasePath, options.db);
  // Writes go through the writer thread, as in the server.
  const store = createSqliteStore(db, {
    writer: writerThread(config.databasePath, { busyTimeoutMs: options.db?.busyTimeoutMs, synchronous: options.db?.synchronous }),
  });
  const metrics = createMetrics();
  const siprecApi = siprecApiFromConfig(config.twilio);
  const app = createApp({ config, store, metrics, siprecApi, logger: options.logger ?? pino({ level: 'silent' }), clock: options.clock });
  const base = config.publicBaseUrl;
  return {
    app,
    config,
    store,
    db,
    metrics,
    siprecApi,
    dir,
    postTwilio: (path, form, token) =>
      request(app).post(path).type('form').set('X-Twilio-Signature', sign(base + path, form, token)).send(form),
    getTwilio: (path, token) => request(app).get(path).set('X-Twilio-Signature', sign(base + path, {}, token)),
    holdWriteLock: () => {
      const locker = new Database(config.databasePath);
      locker.exec('BEGIN IMMEDIATE');
      return () => {
        locker.exec('ROLLBACK');
        locker.close();
      };
    },
    close: async () => {
      await store.close();
      dir.remove();
    },
  };
}

export { TEST_PUBLIC_BASE_URL };
