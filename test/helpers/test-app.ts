import type { RequestListener } from 'node:http';
import pino, { type Logger } from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { createMetrics, type Metrics } from '../../src/metrics';
import { openStore } from '../../src/store';
import { storeFaults } from '../../src/store/faults';
import type { Store } from '../../src/store/store';
import { siprecApiFromConfig, type SiprecApi } from '../../src/twilio/rest';
import { DEFAULT_TEST_ROUTES, TEST_PUBLIC_BASE_URL, tempDir, testEnv, type TempDir } from './env';
import { testStorage, type BackendName, type TestStorage } from './backends';
import { sign } from './twilio-requests';

export interface TestApp {
  app: RequestListener;
  config: Config;
  store: Store;
  /** The backend and database this app's ledger is in (DATABASE_PATH or DATABASE_URL in `config`). */
  storage: TestStorage;
  metrics: Metrics;
  siprecApi: SiprecApi;
  dir: TempDir;
  /** POSTs a form to `path`, signed as Twilio would sign it for PUBLIC_BASE_URL + path. */
  postTwilio(path: string, form: Record<string, string>, token?: string): request.Test;
  /** GETs `path` (with its query) signed as Twilio would. */
  getTwilio(path: string, token?: string): request.Test;
  /**
   * Takes the locks every ledger write needs, from another connection, until the returned release is
   * called: a real fault, after which the store's writes fail once options.writeTimeoutMs has passed.
   */
  holdWrites(): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  routes?: unknown;
  env?: Record<string, string>;
  /** Which backend the ledger is on; SQLite by default. */
  backend?: BackendName;
  /**
   * Another instance on that app's ledger (its own config load, store and app), as after a restart
   * or behind a load balancer; closing it leaves the ledger to its owner.
   */
  ledgerOf?: TestApp;
  /** How long a write waits for a lock held elsewhere before failing (see holdWrites). */
  writeTimeoutMs?: number;
  /** SQLite only. */
  synchronous?: 'FULL' | 'NORMAL';
  clock?: () => number;
  /** Where the app logs; silent by default. A test that asserts a log line passes its own. */
  logger?: Logger;
  /** A fake Twilio REST API (src/dev/fake-twilio) to send REST calls to; without one they go to a closed port on 127.0.0.1. */
  twilio?: { url: string };
}

/**
 * A write timeout short enough that a test sees held locks (holdWrites) fail a write fast. SQLite's
 * busy timeout only runs while a lock is waited for; PostgreSQL's is the whole deadline of every
 * operation, reads and the connection included, so it must leave room for a normal one on a busy machine.
 */
export const FAST_FAILING_WRITES_MS: Record<BackendName, number> = { sqlite: 20, postgres: 400 };
/** What a write that gave up on held locks says, on each backend (an alert's errorMessage shows it). */
export const LOCKED_WRITE_ERROR: Record<BackendName, RegExp> = { sqlite: /database is locked/, postgres: /(lock|statement) timeout|did not answer within/ };

/** Nothing listens on the discard port: REST calls fail fast as unreachable and never leave the machine. */
export const UNREACHABLE_TWILIO = 'http://127.0.0.1:9';

/** The real app over a fresh ledger (a SQLite file, or a PostgreSQL database) with the real migrations. */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const dir = tempDir();
  const storage: TestStorage = options.ledgerOf
    ? { ...options.ledgerOf.storage, remove: () => Promise.resolve() }
    : await testStorage(options.backend ?? 'sqlite', dir);
  const env = testEnv(dir, options.routes ?? DEFAULT_TEST_ROUTES, { TWILIO_API_BASE_URL: options.twilio?.url ?? UNREACHABLE_TWILIO, ...storage.env, ...options.env });
  if (storage.backend === 'postgres') delete env.DATABASE_PATH;
  const config = loadConfig(env);
  // As the server opens it: SQLite's writes on the writer thread, PostgreSQL's pool.
  const store = await openStore(config.storage, { log: pino({ level: 'silent' }), writeTimeoutMs: options.writeTimeoutMs, synchronous: options.synchronous });
  const metrics = createMetrics();
  const siprecApi = siprecApiFromConfig(config.twilio);
  const app = createApp({ config, store, metrics, siprecApi, logger: options.logger ?? pino({ level: 'silent' }), clock: options.clock });
  const base = config.publicBaseUrl;
  return {
    app,
    config,
    store,
    storage,
    metrics,
    siprecApi,
    dir,
    postTwilio: (path, form, token) =>
      request(app).post(path).type('form').set('X-Twilio-Signature', sign(base + path, form, token)).send(form),
    getTwilio: (path, token) => request(app).get(path).set('X-Twilio-Signature', sign(base + path, {}, token)),
    holdWrites: async () => (await storeFaults(config.storage)).holdWrites(),
    close: async () => {
      await store.close();
      await storage.remove();
      dir.remove();
    },
  };
}

export { TEST_PUBLIC_BASE_URL };
