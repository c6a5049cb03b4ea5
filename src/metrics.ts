import { Counter, Registry } from 'prom-client';

/** One registry per app instance, so that tests and a second app in one process never share counts. */
export function createMetrics() {
  const registry = new Registry();
  return {
    registry,
    ledgerWriteFailures: new Counter({
      name: 'siprec_ledger_write_failures_total',
      help: 'Voice webhooks answered without the call being recorded, because the database failed',
      registers: [registry],
    }),
    signatureFailures: new Counter({
      name: 'siprec_signature_failures_total',
      help: 'Twilio requests refused by the signature gate',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
