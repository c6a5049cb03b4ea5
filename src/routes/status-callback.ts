import type { Logger } from 'pino';
import type { AlertPolicy } from '../alerts/types';
import { redactParameters, type CallerNumberMode } from '../domain/privacy';
import { KNOWN_EVENTS, parseTwilioTimestamp } from '../domain/sessions';
import type { WebhookHandler } from '../http/twilio-webhooks';
import type { Metrics } from '../metrics';
import type { Store } from '../store/store';
import { statusCallbackSchema, type StatusCallback } from './twilio-input';
import { parseInput } from './input';
import { CALLBACK_LEDGER_DEADLINE_MS, committedWithin } from './ledger-deadline';

export interface StatusCallbackDeps {
  store: Store;
  clock: () => number;
  storeCallerNumbers: CallerNumberMode;
  metrics: Pick<Metrics, 'statusCallbacks'>;
  /** Error events raise their alerts in the transaction that stores them. */
  alerts: AlertPolicy;
}

/**
 * Records a SIPREC status callback. 204 only once the event is committed; 503 when it cannot be, so
 * that Twilio (told by the callback URL's connection overrides) retries rather than losing it.
 */
export function statusCallbackRoute({ store, clock, storeCallerNumbers, metrics, alerts }: StatusCallbackDeps): WebhookHandler {
  return async function recordStatusCallback(req) {
    const { params } = req;
    const cb = parseInput(statusCallbackSchema, params, 'status callback');
    const known = (KNOWN_EVENTS as readonly string[]).includes(cb.SiprecEvent);
    if (!known) {
      // Twilio may add events: keep it, change no state, and make it visible.
      req.log.warn({ event: cb.SiprecEvent, callSid: cb.CallSid, siprecSid: cb.SiprecSid }, 'unknown SiprecEvent stored without a state change');
    }
    // 503 by the deadline rather than queued behind a locked ledger (see ledger-deadline.ts); a
    // StoreUnavailableError becomes 503 + Retry-After in errorReply, and Twilio retries.
    const result = await committedWithin(store.applyEvent({
      accountSid: cb.AccountSid,
      callSid: cb.CallSid,
      siprecSid: cb.SiprecSid,
      siprecName: cb.SiprecName,
      event: cb.SiprecEvent,
      timestampRaw: cb.Timestamp,
      occurredAt: parseTwilioTimestamp(cb.Timestamp),
      receivedAt: clock(),
      errorCode: cb.SiprecErrorCode ?? null,
      errorMessage: cb.SiprecError ?? null,
      payload: redactParameters(params, storeCallerNumbers),
    }, alerts), CALLBACK_LEDGER_DEADLINE_MS, 'storing the status callback');
    metrics.statusCallbacks.inc({ event: known ? cb.SiprecEvent : 'other', result });
    if (result === 'duplicate') req.log.info({ siprecSid: cb.SiprecSid, event: cb.SiprecEvent }, 'repeated status callback acknowledged');
    if (result === 'stored-apart') await warnStoredApart(store, cb, req.log);
    return { status: 204 };
  };
}

/** Two sessions under one name: the ledger kept them apart; say so with both SIDs. */
async function warnStoredApart(store: Store, cb: StatusCallback, log: Logger): Promise<void> {
  // Only for the log line: if this read fails, the event is stored all the same.
  const recorded = await store.getCall(cb.CallSid).then(
    (detail) => detail?.sessions.find((s) => s.name === cb.SiprecName)?.siprecSid ?? null,
    () => null,
  );
  log.warn(
    { callSid: cb.CallSid, siprecName: cb.SiprecName, siprecSid: cb.SiprecSid, recordedSiprecSid: recorded, storedAs: cb.SiprecSid, event: cb.SiprecEvent },
    'SiprecSid differs from the SID its session recorded: stored as a session of its own, not merged',
  );
}
