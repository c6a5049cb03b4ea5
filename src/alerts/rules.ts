import type { AlertPolicy } from './types';

/** The states in which an alert still waits for delivery. */
export const WAITING_STATES = ['pending', 'retrying'] as const;

/**
 * start-timeout looks at sessions whose timeout passed within the last day: the scan still catches
 * them after a day of downtime, and older ones are history, not news. Counted from the timeout, not
 * from now, or a timeout as long as the lookback would never fire.
 */
export const START_TIMEOUT_MARGIN_MS = 86_400_000;
export const MAX_START_TIMEOUTS_PER_SCAN = 500;

/** The window of requested_at a start-timeout scan at `now` looks at. */
export function startTimeoutWindow(now: number, timeoutMs: number): { since: number; cutoff: number } {
  return { since: now - timeoutMs - START_TIMEOUT_MARGIN_MS, cutoff: now - timeoutMs };
}

/** Where the error-burst window of an error at `at` begins (exclusive). */
export const burstWindowStart = (at: number, policy: AlertPolicy): number => at - policy.burst.windowMs;

/**
 * error-burst is raised once per connector and window: when the connector has had more errors in
 * the window than the policy allows, and no error-burst was raised for it within the window.
 */
export function errorBurstDue(errorsInWindow: number, burstRaisedInWindow: boolean, policy: AlertPolicy): boolean {
  return errorsInWindow > policy.burst.count && !burstRaisedInWindow;
}
