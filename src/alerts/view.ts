import { alertFields } from './messages';
import type { Alert, AlertView } from './types';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** An alert as the operator API shows it, from whichever backend (or the held buffer) it came. */
export const toAlertView = (a: Alert): AlertView => ({
  id: a.id,
  ...alertFields(a),
  state: a.state,
  attempts: a.attempts,
  lastError: a.lastError,
  nextAttemptAt: iso(a.nextAttemptAt),
  deliveredAt: iso(a.deliveredAt),
  held: a.id.startsWith('held:'),
});
