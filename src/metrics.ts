import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TwilioApiError, type SiprecApi } from './twilio/rest';

/** One registry per app instance, so that tests and a second app in one process never share counts. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    ledgerWriteFailures: new Counter({
      name: 'siprec_ledger_write_failures_total',
      help: 'Twilio webhooks (voice and stop) answered without the call or the stop being recorded, because the database failed',
      registers: [registry],
    }),
    signatureFailures: new Counter({
      name: 'siprec_signature_failures_total',
      help: 'Twilio requests refused by the signature gate',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    // route is the matched pattern (/api/calls/:callSid), never the raw URL: label values stay few.
    httpRequests: new Counter({
      name: 'siprec_http_requests_total',
      help: 'HTTP requests answered, by matched route pattern ("unmatched" when no route matched), method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    httpRequestDuration: new Histogram({
      name: 'siprec_http_request_duration_seconds',
      help: 'Time from receiving a request to the end of its response',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    statusCallbacks: new Counter({
      name: 'siprec_status_callbacks_total',
      help: 'SIPREC status callbacks acknowledged, by event ("other" for events Twilio may add) and whether they were new or a repeat',
      labelNames: ['event', 'result'] as const,
      registers: [registry],
    }),
    sessions: new Gauge({
      name: 'siprec_sessions',
      help: 'SIPREC sessions in the ledger by state, counted at each scrape',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    twilioRestCalls: new Counter({
      name: 'siprec_twilio_rest_calls_total',
      help: "Calls to Twilio's REST API by operation and outcome (ok, not-found, unauthorized, rejected, unavailable, error)",
      labelNames: ['operation', 'outcome'] as const,
      registers: [registry],
    }),
    alertDeliveries: new Counter({
      name: 'siprec_alert_deliveries_total',
      help: 'Alert delivery attempts by kind and outcome (delivered, failed and will retry, gave_up)',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;

/** The same API, counting each call by outcome; the routes that use it stay unaware of metrics. */
export function instrumentSiprecApi(api: SiprecApi, metrics: Pick<Metrics, 'twilioRestCalls'>): SiprecApi {
  const counted = async <T>(operation: 'start' | 'stop', call: () => Promise<T>): Promise<T> => {
    try {
      const result = await call();
      metrics.twilioRestCalls.inc({ operation, outcome: 'ok' });
      return result;
    } catch (err) {
      metrics.twilioRestCalls.inc({ operation, outcome: err instanceof TwilioApiError ? err.kind : 'error' });
      throw err;
    }
  };
  return {
    start: (callSid, options) => counted('start', () => api.start(callSid, options)),
    stop: (callSid, nameOrSid) => counted('stop', () => api.stop(callSid, nameOrSid)),
  };
}

export type RequestLabels = { route: string; method: string; status: string };

/** Counts and times one answered request: Express's routes and the Twilio webhook edge alike. */
export function countRequest(metrics: Pick<Metrics, 'httpRequests' | 'httpRequestDuration'>, labels: RequestLabels, startedNs: bigint): void {
  metrics.httpRequests.inc(labels);
  metrics.httpRequestDuration.observe(labels, Number(process.hrtime.bigint() - startedNs) / 1e9);
}
