/**
 * Everything the demo runs, on 127.0.0.1 only: a fake Twilio REST API and siprec-control in-process,
 * with a throwaway database, routes file and freshly generated credentials. Nothing reaches Twilio.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../config';
import { startFakeTwilio, type FakeTwilio } from '../dev/fake-twilio';
import { createLogger, startServer, type RunningServer } from '../server';
import { DEMO_ROUTES } from './routes';

export const HOST = '127.0.0.1';

export interface Credentials {
  accountSid: string;
  authToken: string;
  adminToken: string;
}

export interface Demo {
  dir: string;
  credentials: Credentials;
  config: Config;
  fake: FakeTwilio;
  server: RunningServer;
  close(): Promise<void>;
}

/**
 * The preferred port when free; else, when `fallBack`, any free one, so that the default port taken by
 * a running server does not stop the demo. (PUBLIC_BASE_URL needs the port before the server listens.)
 */
function pickPort(preferred: number, fallBack: boolean): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(port, HOST, () => {
        const address = probe.address();
        const chosen = typeof address === 'object' && address ? address.port : port;
        probe.close(() => resolve(chosen));
      });
    });
  return tryPort(preferred).catch((err: NodeJS.ErrnoException) => {
    if (fallBack && err.code === 'EADDRINUSE') return tryPort(0);
    throw err.code === 'EADDRINUSE' ? new Error(`port ${preferred} on ${HOST} is in use; pick another with --port`) : err;
  });
}

export function newCredentials(): Credentials {
  return {
    accountSid: `AC${randomBytes(16).toString('hex')}`,
    authToken: randomBytes(16).toString('hex'),
    adminToken: randomBytes(24).toString('hex'),
  };
}

export async function startDemo(options: { port: number; portIsDefault: boolean; logLevel: string }): Promise<Demo> {
  const dir = mkdtempSync(path.join(tmpdir(), 'siprec-demo-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  // The last resort, for an exit that skips close(): an uncaught exception, process.exit().
  process.once('exit', removeDir);
  const cleanups: Array<() => Promise<void> | void> = [
    () => {
      process.off('exit', removeDir);
      removeDir();
    },
  ];
  const close = async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  };
  try {
    const credentials = newCredentials();
    const fake = await startFakeTwilio({ accountSid: credentials.accountSid, authToken: credentials.authToken });
    cleanups.push(() => fake.close());
    writeFileSync(path.join(dir, 'routes.json'), JSON.stringify(DEMO_ROUTES, null, 2));
    const port = await pickPort(options.port, options.portIsDefault);
    // Only these variables: a developer's own environment (API keys, another TWILIO_API_BASE_URL) must not leak in.
    const config = loadConfig(
      {
        TWILIO_ACCOUNT_SID: credentials.accountSid,
        TWILIO_AUTH_TOKEN: credentials.authToken,
        TWILIO_API_BASE_URL: fake.url,
        ADMIN_TOKEN: credentials.adminToken,
        PUBLIC_BASE_URL: `http://${HOST}:${port}`,
        HOST,
        PORT: String(port),
        DATABASE_PATH: path.join(dir, 'ledger.sqlite'),
        ROUTES_FILE: path.join(dir, 'routes.json'),
        LOG_LEVEL: options.logLevel,
      },
      dir,
    );
    const server = await startServer(config, createLogger(config.logLevel));
    cleanups.push(() => server.close());
    return { dir, credentials, config, fake, server, close };
  } catch (err) {
    await close();
    throw err;
  }
}
