/**
 * While the demo keeps running, plays Twilio's part for what the operator does on the status page:
 * a SIPREC session started or stopped through the REST API (the fake) gets the status callback
 * Twilio would send, so the page shows it go active or stopped as it would in production.
 */
import { sendCallback } from '../cli/sim-steps';
import type { StepLog } from '../cli/steps';
import { statusCallbackForm, type CallParty, type TwilioSim } from '../cli/twilio-client-sim';
import type { FakeTwilio, FakeSiprec } from '../dev/fake-twilio';
import { statusCallbackUrl } from '../twilio/twiml';

export interface EchoOptions {
  sim: TwilioSim;
  fake: FakeTwilio;
  log: StepLog;
  /** The calls Twilio knows the parties of (a REST start only carries the CallSid). */
  calls: readonly CallParty[];
  intervalMs?: number;
}

/** Starts watching; returns a function that stops it. */
export function echoTwilioCallbacks({ sim, fake, log, calls, intervalMs = 250 }: EchoOptions): () => void {
  // What Twilio has already reported per session: the scripted calls reported theirs themselves.
  const reported = new Map<string, FakeSiprec['status']>([...fake.siprecs.values()].map((s) => [s.sid, s.status]));
  let busy = false;

  const report = async (s: FakeSiprec, event: 'siprec-started' | 'siprec-stopped') => {
    const party = calls.find((c) => c.callSid === s.callSid) ?? { accountSid: sim.options.accountSid, callSid: s.callSid, to: '', from: '' };
    // A REST start carries its own callback; a TwiML-started session used the one siprec-control writes.
    const siprec = {
      name: s.name,
      connectorName: s.form.ConnectorName ?? '',
      statusCallback: s.form.StatusCallback ?? statusCallbackUrl(sim.options.publicBaseUrl),
      statusCallbackMethod: s.form.StatusCallbackMethod === 'GET' ? ('GET' as const) : ('POST' as const),
    };
    const label = `twilio ${event} ${s.name} on ${s.callSid}`;
    const reply = await sendCallback(log, sim, label, siprec, statusCallbackForm(party, { name: s.name, siprecSid: s.sid }, event));
    if (reply) log.ok(label, String(reply.status));
  };

  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      for (const s of fake.siprecs.values()) {
        const before = reported.get(s.sid);
        if (before === s.status) continue;
        reported.set(s.sid, s.status);
        if (before === undefined && s.status === 'in-progress') await report(s, 'siprec-started');
        else if (s.status === 'stopped') await report(s, 'siprec-stopped');
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  return () => clearInterval(timer);
}
