import type { Logger } from 'pino';
import type { AlertPolicy } from '../alerts/types';
import type { Config } from '../config';
import { keepNumber } from '../domain/privacy';
import { pickRoute, routeByKey, routeKey, type Continuation, type Route } from '../domain/routing';
import type { WebhookHandler } from '../http/twilio-webhooks';
import type { Metrics } from '../metrics';
import type { SessionView, Store } from '../store/store';
import { buildStopTwiml } from '../twilio/twiml';
import { settlesWithin } from './ledger-deadline';
import { stopRecorder, type StopRetryPolicy } from './stop-record';
import { callRequestSchema, stopQuerySchema } from './twilio-input';
import { parseInput } from './input';

export interface StopTwimlDeps {
  config: Config;
  store: Store;
  metrics: Metrics;
  clock: () => number;
  alerts: AlertPolicy;
  retry?: StopRetryPolicy;
}

/** What the ledger knows of the call; null when it cannot be read. */
interface Known {
  sessions: SessionView[];
  routeKey: string | null;
  to: string | null;
}

async function readLedger(store: Store, callSid: string, log: Logger): Promise<Known | null> {
  try {
    const [detail, key] = await Promise.all([store.getCall(callSid), store.routeOf(callSid)]);
    return { sessions: detail?.sessions ?? [], routeKey: key, to: detail?.call.to ?? null };
  } catch (err) {
    log.error({ err, callSid }, "ledger unreadable; stopping the sessions of the call's route");
    return null;
  }
}

/**
 * The call's route: the one the voice webhook stored, found again by its numbers' fingerprint even
 * if routes.json has been reordered since; else the voice webhook's own routing on `To` (the
 * request's, or the ledger's when numbers are stored in full). `chosen` is false for the default
 * reached only because nothing said otherwise, which is not worth storing as the call's route.
 */
function callRoute(routes: readonly Route[], to: string | undefined, known: Known | null, log: Logger): { route: Route; chosen: boolean } {
  const stored = routeByKey(routes, known?.routeKey);
  if (stored) return { route: stored, chosen: true };
  if (known?.routeKey) log.warn({ routeKey: known.routeKey }, "the call's route is no longer in the routes file; routing the stop by To");
  const number = to ?? known?.to ?? undefined;
  return { route: pickRoute(routes, number), chosen: number !== undefined };
}

/**
 * Without a name: every session the ledger shows open, and every session of the call's route the
 * ledger has no row for (its voice write failed, or it cannot be read): a caller who asked to stop
 * recording must not stay recorded because the ledger missed the start.
 */
function namesToStop(route: Route, known: Known | null): string[] {
  const planned = route.siprec.map((t) => t.name);
  if (!known) return planned;
  const seen = new Set(known.sessions.map((s) => s.name));
  const open = known.sessions.filter((s) => s.state === 'requested' || s.state === 'active').map((s) => s.name);
  return [...open, ...planned.filter((n) => !seen.has(n))];
}

/**
 * `<Stop><Siprec name>` for use inside a call flow (a `<Gather action>` or `<Redirect>` target), then
 * `<Redirect>` to `next` or the continuation of the call's route, so the call goes on.
 */
export function stopTwimlRoute({ config, store, metrics, clock, alerts, retry }: StopTwimlDeps): WebhookHandler {
  const recordStop = stopRecorder({ store, metrics, clock, alerts, retry });
  return async function stopSiprecTwiml(req) {
    const { params, query: rawQuery } = req;
    const query = parseInput(stopQuerySchema, rawQuery, 'query');
    const call = parseInput(callRequestSchema, params, 'stop request');
    const known = await readLedger(store, call.CallSid, req.log);
    const { route, chosen } = callRoute(config.routes, call.To, known, req.log);
    const names = query.name ? [query.name] : namesToStop(route, known);
    const next: Continuation = query.next ? { redirect: query.next } : route.then;
    const twiml = buildStopTwiml(names, next);
    if (names.length > 0) {
      const at = clock();
      const recorded = recordStop(
        {
          callSid: call.CallSid,
          accountSid: call.AccountSid,
          from: null,
          to: keepNumber(call.To, config.storeCallerNumbers),
          direction: null,
          receivedAt: at,
          route: chosen ? routeKey(config.routes, route) : null,
        },
        names,
        at,
        req.log,
      );
      // The caller is waiting on the line, as for the voice webhook: past the deadline the TwiML
      // goes, and the write (or its retries) goes on.
      if (!(await settlesWithin(recorded, config.voiceLedgerDeadlineMs))) {
        req.log.warn({ callSid: call.CallSid, deadlineMs: config.voiceLedgerDeadlineMs }, 'stop not recorded by VOICE_LEDGER_DEADLINE_MS: answered; the write goes on');
      }
    }
    return { status: 200, twiml };
  };
}
