import { z } from 'zod';
import type { Config } from '../config';
import { EXIT, parseCommand, usageError, type CliIo } from './args';
import { requireConfig } from './config';
import { readCall, sendCallback, sendVoice } from './sim-steps';
import { createStepLog, type StepLog } from './steps';
import { inspectStartTwiml } from './twiml-inspect';
import { createTwilioSim, newCallSid, newSiprecSid, statusCallbackForm, voiceForm, type CallParty, type TwilioSim } from './twilio-client-sim';

const spec = {
  name: 'simulate',
  usage: `Usage: siprec-control simulate --url <base> [--to <number>] [--from <number>] [--admin-token <token>]

Plays one call against a running instance as Twilio would, every request signed with the
configured TWILIO_AUTH_TOKEN for PUBLIC_BASE_URL + path (so it passes only if both match the
instance's): the voice webhook (its TwiML must parse and start <Siprec>), then siprec-started and
siprec-stopped callbacks for each <Siprec> with a generated CallSid and SiprecSid. With an admin
token it reads the call back through the operator API and checks every session is stopped.
Reports each step; exits 1 on any failure, 2 on bad usage. The call stays in the instance's ledger
(CallerName "siprec-control simulate").

Options:
  --url <base>            where the instance answers: http://127.0.0.1:3000, or the public URL to
                          test the proxy too (requests go to <base>/twilio/voice, ...)
  --to <number>           the called number; default: the first number in the routes file
  --from <number>         the caller; default +14155550100
  --admin-token <token>   for the read-back; default ADMIN_TOKEN from the configuration
  -h, --help              this text

Example:
  siprec-control simulate --url https://calls.example.com --to +15550001111`,
  options: {
    url: { type: 'string' },
    to: { type: 'string' },
    from: { type: 'string' },
    'admin-token': { type: 'string' },
  },
} as const;

const baseUrl = z
  .url({ protocol: /^https?$/, error: '--url must be an absolute http(s) URL such as http://127.0.0.1:3000' })
  .refine((v) => !URL.parse(v)?.search && !URL.parse(v)?.hash, '--url must not carry a query or fragment')
  .transform((v) => v.replace(/\/+$/, ''));

function defaultTo(config: Config): string {
  return config.routes.find((r) => r.to)?.to?.[0] ?? '+15550001111';
}

/** The call itself: voice webhook, started and stopped callbacks per session, and the read-back. */
async function playCall(sim: TwilioSim, call: CallParty, log: StepLog): Promise<boolean> {
  const voice = await sendVoice(log, sim, 'voice webhook', voiceForm(call));
  if (!voice) return false;
  const twiml = inspectStartTwiml(voice.text);
  if (!twiml.ok) {
    log.fail('voice webhook', `${voice.status}, but ${twiml.problem}`, 'is --url a siprec-control instance?');
    return false;
  }
  const then = twiml.verbs.filter((v) => v !== 'Start').map((v) => `<${v}>`).join(' ') || 'nothing (Twilio would hang up)';
  log.ok('voice webhook', `${voice.status}, TwiML starts ${twiml.siprecs.map((s) => `${s.name} (${s.connectorName})`).join(', ')}, then ${then}`);

  const sessions = twiml.siprecs.map((s) => ({ ...s, siprecSid: newSiprecSid() }));
  const started = Date.now();
  for (const [event, offset] of [['siprec-started', 0], ['siprec-stopped', 1000]] as const) {
    for (const s of sessions) {
      const label = `${event} ${s.name}`;
      const reply = await sendCallback(log, sim, label, s, statusCallbackForm(call, s, event, { at: new Date(started + offset) }));
      if (!reply) return false;
      log.ok(label, `${reply.status} (${s.statusCallbackMethod} ${s.siprecSid})`);
    }
  }

  const label = 'read back GET /api/calls/:sid';
  const ledger = await readCall(log, sim, label, call.callSid);
  if (!ledger) return false;
  const states = sessions.map((s) => `${s.name} ${ledger.find((b) => b.name === s.name)?.state ?? 'missing'}`);
  if (states.every((s) => s.endsWith(' stopped'))) {
    log.ok(label, states.join(', '));
    return true;
  }
  log.fail(label, `expected every session stopped, got ${states.join(', ')}`, 'the instance acknowledged the callbacks but its ledger does not show them: see its log');
  return false;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const values = parseCommand(spec, argv, io);
  if (typeof values === 'number') return values;
  if (values.url === undefined) return usageError(spec, io, '--url is required');
  const url = baseUrl.safeParse(values.url);
  if (!url.success) return usageError(spec, io, url.error.issues[0]?.message ?? '--url is not valid');
  const config = requireConfig(io, spec.name);
  if (typeof config === 'number') return config;

  const adminToken = values['admin-token'] ?? config.adminToken;
  const sim = createTwilioSim({ url: url.data, publicBaseUrl: config.publicBaseUrl, accountSid: config.twilio.accountSid, authToken: config.twilio.authTokens[0]!, adminToken });
  const call: CallParty = {
    accountSid: config.twilio.accountSid,
    callSid: newCallSid(),
    to: values.to ?? defaultTo(config),
    from: values.from ?? '+14155550100',
    callerName: 'siprec-control simulate',
  };
  io.out(`simulate: call ${call.callSid} from ${call.from} to ${call.to}\n`);
  io.out(`  sending to ${sim.options.url}, signed for ${config.publicBaseUrl}\n`);
  const log = createStepLog(io.out);
  const ok = await playCall(sim, call, log);
  io.out(ok ? `simulate: all ${log.passed} steps passed\n` : `simulate: FAILED (${log.passed} passed, ${log.failed} failed)\n`);
  return ok ? EXIT.ok : EXIT.failed;
}
