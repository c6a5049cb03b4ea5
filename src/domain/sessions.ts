/**
 * A SIPREC session's record as a function of the set of its events. Twilio may deliver callbacks
 * late, twice or out of order; deriving from the set (never from arrival order) makes the final
 * record the same whatever the order or repetition.
 */
import type { SessionState } from '../store/store';

export const KNOWN_EVENTS = ['siprec-started', 'siprec-stopped', 'siprec-error'] as const;

export interface EventFact {
  event: string;
  timestampRaw: string;
  occurredAt: number | null;
  receivedAt: number;
  errorCode: string | null;
  errorMessage: string | null;
}

export interface DerivedSession {
  state: SessionState;
  startedAt: number | null;
  stoppedAt: number | null;
  errorCode: string | null;
  errorMessage: string | null;
}

const when = (e: EventFact) => e.occurredAt ?? e.receivedAt;

/** Total order on events independent of arrival, so "the first" is well defined. */
function compare(a: EventFact, b: EventFact): number {
  return (
    when(a) - when(b) ||
    cmp(a.timestampRaw, b.timestampRaw) ||
    cmp(a.errorCode ?? '', b.errorCode ?? '') ||
    cmp(a.errorMessage ?? '', b.errorMessage ?? '')
  );
}
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function earliest(events: EventFact[], kind: string): EventFact | undefined {
  return events.filter((e) => e.event === kind).sort(compare)[0];
}

export function deriveSession(events: EventFact[]): DerivedSession {
  const started = earliest(events, 'siprec-started');
  const stopped = earliest(events, 'siprec-stopped');
  // The first error that says something: an error event without code or message adds nothing to report.
  const errors = events.filter((e) => e.event === 'siprec-error');
  const error = earliest(errors.filter((e) => e.errorCode !== null || e.errorMessage !== null), 'siprec-error') ?? earliest(errors, 'siprec-error');
  // A stop is final; an error is kept beside it. Unknown events change nothing.
  const state: SessionState = stopped ? 'stopped' : error ? 'failed' : started ? 'active' : 'requested';
  return {
    state,
    startedAt: started ? when(started) : null,
    stoppedAt: stopped ? when(stopped) : null,
    errorCode: error?.errorCode ?? null,
    errorMessage: error?.errorMessage ?? null,
  };
}

/** Twilio does not document the Timestamp format: accept ISO 8601 and RFC 2822, else null. */
export function parseTwilioTimestamp(raw: string): number | null {
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;
  const rfc2822 = /^(?:[A-Z][a-z]{2}, )?\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}(:\d{2})? (?:[+-]\d{4}|GMT|UT|UTC)$/;
  if (!iso.test(raw) && !rfc2822.test(raw)) return null;
  const ms = Date.parse(raw);
  return Number.isFinite(ms) ? ms : null;
}
