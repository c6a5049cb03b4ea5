import type { Config } from '../config';
import { keepNumber } from '../domain/privacy';
import { pickRoute, type Continuation } from '../domain/routing';
import type { WebhookHandler } from '../http/twilio-webhooks';
import type { Metrics } from '../metrics';
import type { Store } from '../store/store';
import { buildStopTwiml } from '../twilio/twiml';
import { callRequestSchema, stopQuerySchema } from './twilio-input';
import { parseInput } from './input';

export interface StopTwimlDeps {
  config: Config;
  store: Store;
  metrics: Metrics;
  clock: () => number;
}

/**
 * `<Stop><Siprec name>` for use inside a call flow (a `<Gather action>` or `<Redirect>` target), then
 * `<Redirect>` to `next` or the continuation of the call's route, so the call goes on.
 */
export function stopTwimlRoute({ config, store, metrics, clock }: StopTwimlDeps): WebhookHandler {
  return async function stopSiprecTwiml(req) {
    const { params, query: rawQuery } = req;
    const query = parseInput(stopQuerySchema, rawQuery, 'query');
    const call = parseInput(callRequestSchema, params, 'stop request');
    let known = null;
    try {
      known = await store.getCall(call.CallSid);
    } catch (err) {
      req.log.error({ err, callSid: call.CallSid }, 'ledger unreadable; stopping only the named session');
    }
    const names = query.name
      ? [query.name]
      : (known?.sessions ?? []).filter((s) => s.state === 'requested' || s.state === 'active').map((s) => s.name);
    const next: Continuation = query.next ? { redirect: query.next } : pickRoute(config.routes, call.To ?? known?.call.to ?? undefined).then;
    const twiml = buildStopTwiml(names, next);
    if (names.length > 0) {
      try {
        await store.markStopRequested(
          { callSid: call.CallSid, accountSid: call.AccountSid, from: null, to: keepNumber(call.To, config.storeCallerNumbers), direction: null, receivedAt: clock() },
          names,
          clock(),
        );
      } catch (err) {
        // As with the voice route, the caller's flow must go on even when the ledger cannot write.
        metrics.ledgerWriteFailures.inc();
        req.log.error({ err, callSid: call.CallSid }, 'LEDGER WRITE FAILED: stop answered but not recorded');
      }
    }
    return { status: 200, twiml };
  };
}
