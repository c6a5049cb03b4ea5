/**
 * `npm run demo`: siprec-control working end to end in one command, without a Twilio account.
 * Everything listens on 127.0.0.1; the credentials and the database exist only while it runs.
 */
import { constants } from 'node:os';
import { EXIT, parseCommand, usageError, type CliIo } from '../cli/args';
import { createStepLog } from '../cli/steps';
import { createTwilioSim } from '../cli/twilio-client-sim';
import { playDemoCalls } from './scenario';
import { startDemo, type Demo } from './setup';
import { echoTwilioCallbacks } from './twilio-echo';

const spec = {
  name: 'demo',
  prog: 'npm run demo',
  usage: `Usage: npm run demo [-- [--once] [--port <n>] [--verbose]]

Starts a fake Twilio REST API and siprec-control on 127.0.0.1 with a throwaway database and fresh
credentials, plays a few calls as Twilio would (every request signed), prints each step, then the
status page URL and the credentials, and keeps running until Ctrl-C.

Options:
  --once        exit after the calls: 0 when every step passed, 1 otherwise (CI runs this)
  --port <n>    port for siprec-control (default 3000; any free port when 3000 is taken)
  --verbose     show the server's request log
  -h, --help    this text

Example:
  npm ci && npm run demo`,
  options: {
    once: { type: 'boolean' },
    port: { type: 'string' },
    verbose: { type: 'boolean' },
  },
} as const;

function printAccess(demo: Demo, io: CliIo): void {
  const { url } = demo.server;
  const c = demo.credentials;
  const env = `TWILIO_ACCOUNT_SID=${c.accountSid} TWILIO_AUTH_TOKEN=${c.authToken} PUBLIC_BASE_URL=${demo.config.publicBaseUrl} ADMIN_TOKEN=${c.adminToken} ROUTES_FILE=${demo.config.routesFile}`;
  io.out(
    [
      '',
      'siprec-control is running (127.0.0.1 only; these credentials die with it):',
      `  status page    ${url}/   (any user name; password: the admin token)`,
      `  operator API   curl -H 'Authorization: Bearer ${c.adminToken}' ${url}/api/sessions`,
      `  account SID    ${c.accountSid}`,
      `  auth token     ${c.authToken}`,
      `  admin token    ${c.adminToken}`,
      `  fake Twilio    ${demo.fake.url}`,
      `  one more call  ${env} node dist/cli.js simulate --url ${url}`,
      '',
      'Call 3 is still live: stop (or start) its recording on the status page. Ctrl-C stops the demo.',
      '',
    ].join('\n'),
  );
}

export async function runDemo(argv: string[], io: CliIo): Promise<number> {
  const values = parseCommand(spec, argv, io);
  if (typeof values === 'number') return values;
  const port = values.port === undefined ? 3000 : /^\d{1,5}$/.test(values.port) ? Number(values.port) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    return usageError(spec, io, '--port must be a port number 0-65535');
  }

  // Listening from the start: Ctrl-C during the calls still ends in a clean shutdown, after them.
  // SIGHUP too (the terminal closed): its default would end the process before the cleanup. Kept
  // for the whole run: a second signal (an impatient Ctrl-C while it stops) would otherwise take
  // the default and kill the process, folder and all; it stops at once instead, through
  // process.exit, whose exit hook (startDemo) still removes the folder.
  let stopping = false;
  const stopRequested = new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        if (stopping) process.exit(128 + constants.signals[signal]);
        stopping = true;
        resolve();
      });
    }
  });
  const demo = await startDemo({ port, portIsDefault: values.port === undefined, logLevel: values.verbose ? 'info' : 'error' });
  io.out(`siprec-control demo: a fake Twilio at ${demo.fake.url}, siprec-control at ${demo.server.url} (database in ${demo.dir})\n`);
  const c = demo.credentials;
  const sim = createTwilioSim({ url: demo.server.url, publicBaseUrl: demo.config.publicBaseUrl, accountSid: c.accountSid, authToken: c.authToken, adminToken: c.adminToken });
  const log = createStepLog(io.out);
  let result;
  try {
    result = await playDemoCalls({ sim, fake: demo.fake, log, out: io.out });
  } catch (err) {
    await demo.close();
    throw err;
  }
  io.out(result.ok ? `\ndemo: all ${log.passed} steps passed\n` : `\ndemo: FAILED (${log.passed} passed, ${log.failed} failed)\n`);

  if (values.once) {
    await demo.close();
    return result.ok ? EXIT.ok : EXIT.failed;
  }
  printAccess(demo, io);
  const stopEcho = echoTwilioCallbacks({ sim, fake: demo.fake, log, calls: [result.live] });
  await stopRequested;
  stopEcho();
  io.out('\ndemo: stopping; the database and credentials are gone\n');
  await demo.close();
  return EXIT.ok;
}

/**
 * Writes to a stream whose reader may go away early (`npm run demo -- --once | head -3`): EPIPE ends
 * the output, not the demo, which still finishes and removes its folder. Any other error is a bug.
 */
export function tolerantWriter(stream: NodeJS.WritableStream): (text: string) => void {
  let open = true;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    open = false;
  });
  return (text) => {
    if (open) stream.write(text);
  };
}

if (require.main === module) {
  const io: CliIo = { out: tolerantWriter(process.stdout), err: tolerantWriter(process.stderr), env: process.env, cwd: process.cwd() };
  runDemo(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`demo: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
