/** ledger-write-failed is raised at most once per window: a failing disk fails every call. */
export const LEDGER_ALERT_WINDOW_MS = 5 * 60_000;

/**
 * Whether a ledger-write-failed alert may be raised at `now`, given when the last one was raised (null:
 * never). The window slides from that alert: fixed clock buckets let two alerts through seconds apart
 * across a bucket's edge. A clock that went back by more than a window does not silence alerts until it
 * catches up. Pure, so that every backend and every instance sharing a database apply the same rule.
 */
export function ledgerAlertDue(lastRaisedAt: number | null, now: number, windowMs = LEDGER_ALERT_WINDOW_MS): boolean {
  return lastRaisedAt === null || Math.abs(now - lastRaisedAt) >= windowMs;
}
