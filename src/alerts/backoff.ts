import type { DeliveryStatus } from './types';

export interface RetryPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** Attempts in all, the first included; then the alert is given up. */
  maxAttempts: number;
}

/** 1 s, 2 s, 4 s … capped at 5 min; 10 attempts span about 8.5 minutes. */
export const DEFAULT_RETRY: RetryPolicy = { firstDelayMs: 1_000, maxDelayMs: 300_000, maxAttempts: 10 };

/** The delivery status after attempt number `attempts + 1` ended with `ok` or `error`. */
export function afterAttempt(attempts: number, result: { ok: true } | { ok: false; error: string }, now: number, retry: RetryPolicy = DEFAULT_RETRY): DeliveryStatus {
  const n = attempts + 1;
  if (result.ok) return { state: 'delivered', attempts: n, nextAttemptAt: null, lastError: null, deliveredAt: now };
  if (n >= retry.maxAttempts) return { state: 'gave_up', attempts: n, nextAttemptAt: null, lastError: result.error, deliveredAt: null };
  const delay = Math.min(retry.firstDelayMs * 2 ** (n - 1), retry.maxDelayMs);
  return { state: 'retrying', attempts: n, nextAttemptAt: now + delay, lastError: result.error, deliveredAt: null };
}
