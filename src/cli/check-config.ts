import type { Config, StorageConfig } from '../config';
import type { Route } from '../domain/routing';
import { STATUS_CALLBACK_PATH } from '../twilio/twiml';
import { EXIT, parseCommand, type CliIo } from './args';
import { describeStorage } from '../store';
import { loadCliConfig, openLedger } from './config';

const spec = {
  name: 'check-config',
  usage: `Usage: siprec-control check-config

Validates the environment (and .env in the working folder) and the routes file exactly as the
server does at boot, without starting it. Prints each problem with the variable or the JSON path
in the routes file and exits 1; otherwise prints a summary (never a secret) and exits 0.
Warnings (the example account SID from .env.example, a plain-http PUBLIC_BASE_URL) do not fail it.

Example:
  ROUTES_FILE=./routes.json siprec-control check-config`,
  options: {},
} as const;

// .env.example's account SID is valid in form, so only a warning can catch it (its placeholder
// tokens are refused by the config itself).
const PLACEHOLDER_ACCOUNT_SID = 'AC00000000000000000000000000000000';

export function warnings(config: Config): string[] {
  const found: string[] = [];
  if (config.twilio.accountSid === PLACEHOLDER_ACCOUNT_SID) found.push('TWILIO_ACCOUNT_SID: still the example value from .env.example');
  const base = new URL(config.publicBaseUrl);
  // On loopback nothing crosses a network (the demo, a local trial), so there is nothing to warn about.
  if (base.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(base.hostname)) {
    found.push(
      'PUBLIC_BASE_URL: plain http; Twilio will send call details unencrypted, and the status page is served without HSTS or upgrade-insecure-requests (the admin token crosses the network in the clear). Use https in production',
    );
  }
  return found;
}

function describeRoute(route: Route, i: number): string {
  const to = route.to ? `to ${route.to.join(', ')}` : 'default';
  const siprec = route.siprec.map((s) => `${s.name} (${s.connectorName}, ${s.track})`).join(', ');
  const [kind, target] = Object.entries(route.then)[0] ?? ['?', ''];
  return `    routes[${i}] ${to}: ${siprec}; then ${kind} ${target}`;
}

export function summary(config: Config, envFile: string | null): string {
  const t = config.twilio;
  return [
    'configuration ok',
    `  .env:             ${envFile ?? 'none (environment only)'}`,
    `  voice webhook:    ${config.publicBaseUrl}/twilio/voice  (the number's "A call comes in" URL, HTTP POST)`,
    `  status callback:  ${config.publicBaseUrl}${STATUS_CALLBACK_PATH}`,
    `  account:          ${t.accountSid}`,
    `  auth tokens:      ${t.authTokens.length === 2 ? 'primary and secondary (rotation in progress)' : 'primary'}`,
    `  REST API:         ${t.apiBaseUrl ?? "Twilio's"}, authenticated with ${t.apiKeySid ? `API key ${t.apiKeySid}` : 'the auth token'}`,
    `  listen:           ${config.host}:${config.port}`,
    `  database:         ${describeStorage(config.storage)}`,
    `  caller numbers:   ${config.storeCallerNumbers} (STORE_CALLER_NUMBERS)`,
    `  retention:        ${config.retentionDays ? `calls purged after ${config.retentionDays} days` : 'kept forever (RETENTION_DAYS unset)'}`,
    `  routes file:      ${config.routesFile}`,
    ...config.routes.map(describeRoute),
    '',
  ].join('\n');
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const values = parseCommand(spec, argv, io);
  if (typeof values === 'number') return values;
  const loaded = loadCliConfig(io);
  if (!loaded.ok) {
    const n = loaded.problems.length;
    io.err(`configuration has ${n} problem${n === 1 ? '' : 's'}${loaded.envFile ? ` (environment and ${loaded.envFile})` : ''}:\n`);
    io.err(loaded.problems.map((p) => `  - ${p}\n`).join(''));
    return EXIT.failed;
  }
  io.out(summary(loaded.config, loaded.envFile));
  for (const w of warnings(loaded.config)) io.err(`warning: ${w}\n`);
  // A shared database is another service: say now whether it answers, not at the first call.
  if (loaded.config.storage.kind === 'postgres') return checkDatabase(io, loaded.config.storage);
  return EXIT.ok;
}

async function checkDatabase(io: CliIo, storage: StorageConfig): Promise<number> {
  const started = Date.now();
  const store = await openLedger(io, spec.name, storage);
  if (typeof store === 'number') return EXIT.failed;
  try {
    await store.ping();
    io.out(`  database check:   ok (answered and committed in ${Date.now() - started} ms; migrations current)\n`);
    return EXIT.ok;
  } catch (err) {
    io.err(`siprec-control check-config: the database did not commit a test write: ${(err as Error).message}\n`);
    return EXIT.failed;
  } finally {
    await store.close();
  }
}
