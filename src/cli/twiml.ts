import { randomBytes } from 'node:crypto';
import { phoneNumberProblem } from '../domain/phone-number';
import { pickRoute, planSiprec } from '../domain/routing';
import { voiceRequestSchema } from '../routes/twilio-input';
import { buildStartTwiml } from '../twilio/twiml';
import { EXIT, parseCommand, usageError, type CliIo } from './args';
import { requireConfig } from './config';

const spec = {
  name: 'twiml',
  usage: `Usage: siprec-control twiml --to <number> [--from <number>] [--call-sid <CA…>]

Prints the TwiML that POST /twilio/voice answers for an inbound call to --to, byte for byte, with
the configuration (environment, .env, routes file) the server would use. Records nothing. The route
it matched goes to stderr, so stdout is only the TwiML.

Options:
  --to <number>       the called number as Twilio sends it (To): E.164 such as +15550001111,
                      or a sip:/client: address
  --from <number>     the caller (Twilio's From); fills {From} in parameters
  --call-sid <sid>    CA + 32 hex; fills {CallSid}. Default: a fresh random one
  -h, --help          this text

Example:
  siprec-control twiml --to +15550001111 --from +14155550100`,
  options: {
    to: { type: 'string' },
    from: { type: 'string' },
    'call-sid': { type: 'string' },
  },
} as const;

const FLAGS: Record<string, string> = { To: '--to', From: '--from', CallSid: '--call-sid' };

/**
 * Routes match Twilio's To exactly, and Twilio sends E.164 (or a sip:/client: address). A To typed
 * without its + (or with spaces) would silently answer with the default route, which is exactly
 * the mistake this command exists to catch: so it is bad usage (exit 2), not a warning on stderr
 * that scrolls past above the TwiML.
 */
function calledNumberProblem(to: string): string | undefined {
  if (/^(sip|client):/i.test(to)) return undefined;
  const problem = phoneNumberProblem(
    to,
    `must be the called number as Twilio sends it: E.164 (+15550001111), a sip: URI or a client: identity; "${to}" could only ever match the default route`,
  );
  return problem && `--to ${problem}`;
}

export function run(argv: string[], io: CliIo): number {
  const values = parseCommand(spec, argv, io);
  if (typeof values === 'number') return values;
  if (values.to === undefined) return usageError(spec, io, '--to is required');
  const toProblem = calledNumberProblem(values.to);
  if (toProblem) return usageError(spec, io, toProblem);
  const config = requireConfig(io, spec.name);
  if (typeof config === 'number') return config;

  // The same schema the voice route applies to Twilio's request, so a call it would refuse is refused here.
  const parsed = voiceRequestSchema.safeParse({
    CallSid: values['call-sid'] ?? `CA${randomBytes(16).toString('hex')}`,
    AccountSid: config.twilio.accountSid,
    To: values.to,
    From: values.from,
    Direction: 'inbound',
  });
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${FLAGS[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`).join('; ');
    return usageError(spec, io, msg);
  }
  const call = parsed.data;
  const route = pickRoute(config.routes, call.To);
  const index = config.routes.indexOf(route);
  io.err(`route: routes[${index}] (${route.to ? `to ${route.to.join(', ')}` : 'the default route'}), CallSid ${call.CallSid}\n`);
  // No newline after it: the server's answer has none, and `twiml > file` must be that answer.
  io.out(buildStartTwiml(planSiprec(route, call), route.then, config.publicBaseUrl));
  return EXIT.ok;
}
