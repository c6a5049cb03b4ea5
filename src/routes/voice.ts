import { ledgerWriteFailedAlert } from '../alerts/messages';
import type { AlertPolicy } from '../alerts/types';
import type { Config } from '../config';
import { keepNumber, redactParameterList } from '../domain/privacy';
import { pickRoute, planSiprec, quotesTheCall, routeKey } from '../domain/routing';
import type { WebhookHandler } from '../http/twilio-webhooks';
import type { Metrics } from '../metrics';
import type { Store } from '../store/store';
import { buildStartTwiml } from '../twilio/twiml';
import { voiceRequestSchema } from './twilio-input';
import { parseInput } from './input';
import { settlesWithin } from './ledger-deadline';

export interface VoiceDeps {
  config: Config;
  store: Store;
  metrics: Metrics;
  clock: () => number;
  alerts: AlertPolicy;
}

/** Answers an incoming call with `<Start><Siprec>` for its route, then the route's continuation. */
export function voiceRoute({ config, store, metrics, clock, alerts }: VoiceDeps): WebhookHandler {
  // A route whose parameters do not quote the call answers every call with the same TwiML: build it
  // once (VoiceResponse's XML builder is the largest cost of answering). Routes that quote the call
  // render per call, and no caller's number is kept in memory.
  const fixedTwiml = new Map(
    config.routes.filter((r) => !quotesTheCall(r)).map((r) => [r, buildStartTwiml(planSiprec(r, {}), r.then, config.publicBaseUrl)]),
  );
  return async function answerCall(req) {
    const { params } = req;
    const call = parseInput(voiceRequestSchema, params, 'voice request');
    const route = pickRoute(config.routes, call.To);
    const plan = planSiprec(route, call);
    const twiml = fixedTwiml.get(route) ?? buildStartTwiml(plan, route.then, config.publicBaseUrl);
    // The call comes first: a caller must never be dropped, nor kept waiting, because the ledger is
    // down or locked. Past the deadline the TwiML goes; the write finishes or fails on its own.
    // An async function, so that whatever throws on the way is a failed write, not a failed call.
    const recordCall = async () => store.recordRequested(
      {
        callSid: call.CallSid,
        accountSid: call.AccountSid,
        from: keepNumber(call.From, config.storeCallerNumbers),
        to: keepNumber(call.To, config.storeCallerNumbers),
        direction: call.Direction ?? null,
        receivedAt: clock(),
        // A later stop without To, or with numbers masked, continues on this route.
        route: routeKey(config.routes, route),
      },
      plan.map((s, i) => ({
        name: s.name,
        connectorName: s.connectorName,
        track: s.track,
        // Filled-in values may carry the caller's number; unless numbers are kept, keep the templates.
        parameters:
          config.storeCallerNumbers === 'full'
            ? s.parameters
            : redactParameterList(Object.entries(route.siprec[i]!.parameters).map(([name, value]) => ({ name, value })), config.storeCallerNumbers),
      })),
    );
    const write = recordCall().catch((err: unknown) => {
      // Counted when it fails, before or after the answer; a write that commits late is no failure.
      metrics.ledgerWriteFailures.inc();
      req.log.error({ err, callSid: call.CallSid }, 'LEDGER WRITE FAILED: call answered but not recorded');
      // Held in memory: the outbox is a table in the very database that just failed.
      store.alerts.hold(ledgerWriteFailedAlert({ callSid: call.CallSid, error: err, at: clock() }), alerts.initialState);
    });
    if (!(await settlesWithin(write, config.voiceLedgerDeadlineMs))) {
      req.log.warn({ callSid: call.CallSid, deadlineMs: config.voiceLedgerDeadlineMs }, 'ledger write not committed by VOICE_LEDGER_DEADLINE_MS: call answered; the write goes on');
    }
    return { status: 200, twiml };
  };
}
