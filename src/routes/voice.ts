import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { pickRoute, planSiprec } from '../domain/routing';
import type { Metrics } from '../metrics';
import type { Store } from '../store/store';
import { twilioParams } from '../twilio/signature';
import { buildStartTwiml } from '../twilio/twiml';
import { parseTwilioInput, voiceRequestSchema } from './twilio-input';

export interface VoiceDeps {
  config: Config;
  store: Store;
  metrics: Metrics;
  logger: Logger;
  clock: () => number;
}

/** Answers an incoming call with `<Start><Siprec>` for its route, then the route's continuation. */
export function voiceRoute({ config, store, metrics, clock }: VoiceDeps): RequestHandler {
  return async function answerCall(req, res) {
    const call = parseTwilioInput(voiceRequestSchema, twilioParams(req), 'voice request');
    const route = pickRoute(config.routes, call.To);
    const plan = planSiprec(route, call);
    const twiml = buildStartTwiml(plan, route.then, config.publicBaseUrl);
    try {
      await store.recordRequested(
        {
          callSid: call.CallSid,
          accountSid: call.AccountSid,
          from: call.From ?? null,
          to: call.To ?? null,
          direction: call.Direction ?? null,
          receivedAt: clock(),
        },
        plan.map((s) => ({ name: s.name, connectorName: s.connectorName, track: s.track, parameters: s.parameters })),
      );
    } catch (err) {
      // The call comes first: a caller must never be dropped because the ledger is down.
      metrics.ledgerWriteFailures.inc();
      req.log.error({ err, callSid: call.CallSid }, 'LEDGER WRITE FAILED: call answered but not recorded');
    }
    res.type('text/xml').send(twiml);
  };
}
