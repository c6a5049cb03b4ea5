import type { Logger } from 'pino';
import { ledgerWriteFailedAlert } from '../alerts/messages';
import type { AlertPolicy } from '../alerts/types';
import type { Metrics } from '../metrics';
import type { NewCall, Store } from '../store/store';

export interface StopRetryPolicy {
  /** The first retry's delay; each one after doubles it, up to maxDelayMs. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** How long after the failure the stop may still be recorded; then it is alerted. */
  forMs: number;
  maxAttempts: number;
  /** Stops waiting at once; one more is alerted at once rather than held in memory. */
  maxPending: number;
}

export const STOP_RETRY: StopRetryPolicy = { firstDelayMs: 250, maxDelayMs: 15_000, forMs: 5 * 60_000, maxAttempts: 40, maxPending: 1_000 };

export interface StopRecorderDeps {
  store: Store;
  metrics: Pick<Metrics, 'ledgerWriteFailures'>;
  clock: () => number;
  alerts: AlertPolicy;
  retry?: StopRetryPolicy;
}

export type RecordStop = (call: NewCall, names: readonly string[], at: number, log: Logger) => Promise<void>;

/**
 * Records a stop request that the caller's TwiML has already been given. The stop is a fact the
 * ledger must show (Twilio was told to stop recording), so a failed write is retried in the
 * background while the ledger recovers, for a bounded time; if it never does, `ledger-write-failed`
 * is raised, held in memory like the voice webhook's. Nothing here delays the call.
 */
export function stopRecorder({ store, metrics, clock, alerts, retry = STOP_RETRY }: StopRecorderDeps): RecordStop {
  let waiting = 0;

  const giveUp = (call: NewCall, names: readonly string[], err: unknown, log: Logger, why: string) => {
    log.error({ err, callSid: call.callSid }, `stop request NOT recorded (${why}); raising ledger-write-failed`);
    const alert = ledgerWriteFailedAlert({ callSid: call.callSid, error: err, at: clock() });
    const message =
      `The ledger could not record the stop requested on call ${call.callSid} (sessions ${names.join(', ')}): ` +
      `Twilio was told to stop them, the ledger does not show it (${alert.errorMessage})`;
    store.alerts.hold({ ...alert, message }, alerts.initialState);
  };

  const retryInBackground = (call: NewCall, names: readonly string[], at: number, log: Logger) => {
    if (waiting >= retry.maxPending) return giveUp(call, names, new Error('too many stop requests waiting for the ledger'), log, 'no room to retry');
    waiting += 1;
    const deadline = clock() + retry.forMs;
    let attempts = 0;
    const attempt = () => {
      attempts += 1;
      store.markStopRequested(call, [...names], at).then(
        () => {
          waiting -= 1;
          log.warn({ callSid: call.callSid, attempts }, 'stop request recorded once the ledger wrote again');
        },
        (err: unknown) => {
          if (attempts < retry.maxAttempts && clock() < deadline) return schedule();
          waiting -= 1;
          giveUp(call, names, err, log, `still failing after ${attempts} retries`);
        },
      );
    };
    const schedule = () => void setTimeout(attempt, Math.min(retry.maxDelayMs, retry.firstDelayMs * 2 ** attempts)).unref();
    schedule();
  };

  return async function recordStop(call, names, at, log) {
    try {
      await store.markStopRequested(call, [...names], at);
    } catch (err) {
      // As with the voice route, the caller's flow goes on even when the ledger cannot write.
      metrics.ledgerWriteFailures.inc();
      log.error({ err, callSid: call.callSid }, 'LEDGER WRITE FAILED: stop answered but not recorded; retrying in the background');
      retryInBackground(call, names, at, log);
    }
  };
}
