/**
 * `npm run fake-twilio`: the fake Twilio REST API alone on 127.0.0.1, for trying `npm start` (and the
 * operator API's start and stop) without a Twilio account. Prints what to put in .env; runs until
 * Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { EXIT, parseCommand, usageError, type CliIo } from '../cli/args';
import { startFakeTwilio, type FakeTwilioRequest } from './fake-twilio';

export const DEFAULT_PORT = 4010;

const spec = {
  name: 'fake-twilio',
  prog: 'npm run fake-twilio --',
  usage: `Usage: npm run fake-twilio -- [--port <n>] [--account-sid <AC…>] [--auth-token <token>]

Starts a fake of the part of Twilio's REST API siprec-control calls (start and stop SIPREC on a call)
on 127.0.0.1, port ${DEFAULT_PORT} by default. It accepts HTTP Basic with one account SID and auth token
(fresh ones unless given), treats every well-formed CallSid as a live call, and prints each request.
Nothing reaches Twilio. Runs until Ctrl-C.

Example:
  npm run fake-twilio -- --port 4010`,
  options: { port: { type: 'string' }, 'account-sid': { type: 'string' }, 'auth-token': { type: 'string' } },
} as const;

const PORT = '--port must be a port number (0-65535)';
const Flags = z.object({
  port: z.string().regex(/^\d{1,5}$/, PORT).transform(Number).refine((n) => n <= 65535, PORT).optional(),
  'account-sid': z.string().regex(/^AC[0-9a-f]{32}$/, '--account-sid must be AC followed by 32 hex digits').optional(),
  'auth-token': z.string().min(16, '--auth-token must be at least 16 characters').optional(),
});

/** One line per request, with the form fields that say what was asked (no credentials). */
function describe(r: FakeTwilioRequest): string {
  const fields = ['Name', 'ConnectorName', 'Track', 'Status'].filter((k) => r.form[k] !== undefined).map((k) => `${k}=${r.form[k]}`);
  return `${new Date().toISOString()} ${r.method} ${r.path}${fields.length ? ` ${fields.join(' ')}` : ''}\n`;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const values = parseCommand(spec, argv, io);
  if (typeof values === 'number') return values;
  const flags = Flags.safeParse(values);
  if (!flags.success) return usageError(spec, io, flags.error.issues.map((i) => i.message).join('; '));
  const accountSid = flags.data['account-sid'] ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = flags.data['auth-token'] ?? randomBytes(16).toString('hex');

  let fake;
  try {
    fake = await startFakeTwilio({ accountSid, authToken, port: flags.data.port ?? DEFAULT_PORT, everyCallLive: true, onRequest: (r) => io.out(describe(r)) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    io.err(`fake-twilio: port ${flags.data.port ?? DEFAULT_PORT} on 127.0.0.1 is in use; pick another with --port\n`);
    return EXIT.failed;
  }
  io.out(
    [
      `fake Twilio REST API listening on ${fake.url} (Ctrl-C to stop)`,
      '',
      'It accepts this account SID and auth token (HTTP Basic), and answers start and stop SIPREC for any',
      'CallSid. Put these in .env (or the environment) beside your other values, leave TWILIO_API_KEY_SID',
      'and TWILIO_API_KEY_SECRET unset, then run npm start in another terminal:',
      '',
      `  TWILIO_API_BASE_URL=${fake.url}`,
      `  TWILIO_ACCOUNT_SID=${accountSid}`,
      `  TWILIO_AUTH_TOKEN=${authToken}`,
      '',
      'siprec-control simulate signs its webhooks with the same auth token.',
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await fake.close();
  io.out('fake Twilio stopped\n');
  return EXIT.ok;
}

if (require.main === module) {
  const io: CliIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), env: process.env, cwd: process.cwd() };
  run(process.argv.slice(2), io).then(
    (code) => (process.exitCode = code),
    (err) => {
      process.stderr.write(`fake-twilio: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
