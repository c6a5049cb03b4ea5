/**
 * The demo's calls, played as Twilio would play them: every webhook and callback signed, the call and
 * its SIPREC sessions known to the fake Twilio REST API while live, so operator stops reach "Twilio".
 */
import { readCall, sendApi, sendCallback, sendVoice } from '../cli/sim-steps';
import type { StepLog } from '../cli/steps';
import { inspectStartTwiml, type TwimlSiprec } from '../cli/twiml-inspect';
import { newCallSid, statusCallbackForm, voiceForm, type CallParty, type SiprecEvent, type TwilioSim } from '../cli/twilio-client-sim';
import type { FakeTwilio } from '../dev/fake-twilio';
import { DEMO_NUMBERS } from './routes';

export interface DemoContext {
  sim: TwilioSim;
  fake: FakeTwilio;
  log: StepLog;
  out(text: string): void;
}

type Session = TwimlSiprec & { siprecSid: string };

/**
 * One call's life. Each step reports itself; after a failed step the rest of the call is skipped
 * (they would only fail for the same reason), so `ok` goes false and stays false.
 */
class DemoCall {
  readonly party: CallParty;
  sessions = new Map<string, Session>();
  ok = true;

  constructor(
    private readonly ctx: DemoContext,
    private readonly label: string,
    to: string,
    from: string,
  ) {
    this.party = { accountSid: ctx.sim.options.accountSid, callSid: newCallSid(), to, from };
  }

  private fail(label: string, detail: string): false {
    this.ctx.log.fail(label, detail);
    return false;
  }

  private step = async (run: () => Promise<boolean>) => {
    if (this.ok) this.ok = await run();
    return this;
  };

  /** The voice webhook; Twilio then runs the TwiML, so the call and its sessions become live. */
  answer = (expect: string[]) =>
    this.step(async () => {
      const label = `${this.label} voice webhook`;
      const reply = await sendVoice(this.ctx.log, this.ctx.sim, label, voiceForm(this.party));
      if (!reply) return false;
      const twiml = inspectStartTwiml(reply.text);
      if (!twiml.ok) return this.fail(label, `${reply.status}, but ${twiml.problem}`);
      const names = twiml.siprecs.map((s) => s.name);
      if (names.join() !== expect.join()) return this.fail(label, `TwiML starts ${names.join(', ')}, expected ${expect.join(', ')}`);
      this.ctx.fake.calls.add(this.party.callSid);
      for (const s of twiml.siprecs) this.sessions.set(s.name, { ...s, siprecSid: this.ctx.fake.addSiprec(this.party.callSid, s.name).sid });
      const then = twiml.verbs.filter((v) => v !== 'Start').map((v) => `<${v}>`).join(' ');
      this.ctx.log.ok(label, `${reply.status}, TwiML starts ${twiml.siprecs.map((s) => `${s.name} (${s.connectorName}, ${s.statusCallbackMethod} callback)`).join(' and ')}, then ${then}`);
      return true;
    });

  /** A status callback for one session, as Twilio sends it. */
  event = (name: string, event: SiprecEvent, error?: { code: string; message: string }) =>
    this.step(async () => {
      const session = this.sessions.get(name)!;
      const label = `${this.label} ${event} ${name}`;
      const form = statusCallbackForm(this.party, session, event, error ? { errorCode: error.code, error: error.message } : {});
      const reply = await sendCallback(this.ctx.log, this.ctx.sim, label, session, form);
      if (!reply) return false;
      this.ctx.log.ok(label, `${reply.status}${error ? ` (SiprecErrorCode ${error.code}: ${error.message})` : ''}`);
      return true;
    });

  /** An operator stops one recording through the operator API, which asks Twilio's REST API. */
  operatorStop = (name: string) =>
    this.step(async () => {
      const path = `/api/calls/${this.party.callSid}/siprec/${name}/stop`;
      const label = `${this.label} operator stops ${name}`;
      const before = this.ctx.fake.requests.length;
      const reply = await sendApi(this.ctx.log, this.ctx.sim, label, 'POST', path);
      if (!reply) return false;
      const asked = this.ctx.fake.requests.slice(before).find((r) => r.path.endsWith(`/Calls/${this.party.callSid}/Siprec/${name}.json`));
      if (asked?.form.Status !== 'stopped') return this.fail(label, `${reply.status}, but Twilio's REST API was not asked to stop it`);
      this.ctx.log.ok(label, `POST ${path} → ${reply.status}; Twilio's REST API got Status=stopped`);
      return true;
    });

  /** The call ends: Twilio's REST API no longer knows it as live. */
  hangUp() {
    this.ctx.fake.calls.delete(this.party.callSid);
  }

  /** The ledger, read through the operator API, holds what the call went through. */
  expectLedger = (expected: Record<string, { state: string; errorCode?: string; stopRequested?: boolean }>) =>
    this.step(async () => {
      const label = `${this.label} ledger`;
      const sessions = await readCall(this.ctx.log, this.ctx.sim, label, this.party.callSid);
      if (!sessions) return false;
      const wrong: string[] = [];
      const seen = Object.entries(expected).map(([name, want]) => {
        const s = sessions.find((x) => x.name === name);
        const got = `${name} ${s?.state ?? 'missing'}${s?.errorCode ? ` (error ${s.errorCode})` : ''}${s?.stopRequestedAt ? ' (stopped by operator)' : ''}`;
        if (!s || s.state !== want.state || (want.errorCode !== undefined && s.errorCode !== want.errorCode) || (want.stopRequested !== undefined && Boolean(s.stopRequestedAt) !== want.stopRequested)) {
          wrong.push(got);
        }
        return got;
      });
      if (wrong.length > 0) return this.fail(label, `unexpected: ${wrong.join(', ')}`);
      this.ctx.log.ok(label, seen.join(', '));
      return true;
    });
}

/** Returns the call left live, so the operator can stop its recording from the status page. */
export async function playDemoCalls(ctx: DemoContext): Promise<{ ok: boolean; live: CallParty }> {
  const call = (n: number, what: string, to: string, from: string) => {
    const c = new DemoCall(ctx, `call ${n}`, to, from);
    ctx.out(`\ncall ${n}: ${from} → ${to} (${what}), CallSid ${c.party.callSid}\n`);
    return c;
  };

  // Two recorders; an operator stops one mid-call, the other stops when the caller hangs up.
  const sales = call(1, 'sales line: two recorders, one stopped by an operator', DEMO_NUMBERS.sales, '+14155550100');
  await sales.answer(['gridspace', 'compliance']);
  await sales.event('gridspace', 'siprec-started');
  await sales.event('compliance', 'siprec-started');
  await sales.operatorStop('compliance');
  await sales.event('compliance', 'siprec-stopped');
  sales.hangUp();
  await sales.event('gridspace', 'siprec-stopped');
  await sales.expectLedger({ gridspace: { state: 'stopped', stopRequested: false }, compliance: { state: 'stopped', stopRequested: true } });

  // The recording server goes away: Twilio reports the session failed. (Illustrative code: Twilio's
  // SIP errors are in the 32xxx range, and Twilio publishes no list of SIPREC error codes.)
  const support = call(2, 'support line: the recording server fails', DEMO_NUMBERS.support, '+447700900123');
  await support.answer(['compliance']);
  await support.event('compliance', 'siprec-started');
  await support.event('compliance', 'siprec-error', { code: '32011', message: 'Session Recording Server sip:srs.example.com:5061 did not answer (SIP 408 Request Timeout)' });
  support.hangUp();
  await support.expectLedger({ compliance: { state: 'failed', errorCode: '32011' } });

  // Still on the line when the demo finishes: its recording can be stopped from the status page.
  const other = call(3, 'any other number: the default route, still live', DEMO_NUMBERS.other, '+13125550123');
  await other.answer(['gridspace']);
  await other.event('gridspace', 'siprec-started');
  await other.expectLedger({ gridspace: { state: 'active' } });

  return { ok: sales.ok && support.ok && other.ok, live: other.party };
}
