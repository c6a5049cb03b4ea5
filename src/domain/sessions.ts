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

/**
 * The ledger's name for the session Twilio knows as `sid`, named `name`, among its call's sessions:
 * the session holding that SID; else the one of that name, unless it holds another SID. That is a
 * second session started under one name, which is kept apart under its SID, as the status
 * callbacks file it (store/sqlite/writes.ts, applyEvent), so that nothing of one lands on the other.
 */
export function ledgerNameOf(sessions: ReadonlyArray<{ name: string; siprecSid: string | null }>, sid: string, name: string): string {
  const bySid = sessions.find((s) => s.siprecSid === sid);
  if (bySid) return bySid.name;
  const named = sessions.find((s) => s.name === name);
  return named && named.siprecSid !== null ? sid : name;
}

/** Each `<Siprec>` forks two streams and Twilio allows four per call. */
export const MAX_OPEN_SESSIONS_PER_CALL = 2;
/** A session holds a slot while requested or active and not asked to stop. */
export const OPEN_STATES = ['requested', 'active'] as const satisfies readonly SessionState[];

/** A Timestamp further than this from when its callback arrived is flagged: one of the clocks is wrong. */
export const MAX_CLOCK_SKEW_MS = 86_400_000;

export const isTimestampSkewed = (occurredAt: number | null, receivedAt: number): boolean =>
  occurredAt !== null && Math.abs(occurredAt - receivedAt) > MAX_CLOCK_SKEW_MS;

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/;
const RFC_2822 = /^(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2})(?::(\d{2}))? (?:[+-]\d{4}|GMT|UT|UTC)$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/**
 * True when the wall-clock fields name a real date and time. Date.parse rolls 30 February over to
 * 2 March and 24:00 over to the next day rather than refusing them; a calendar date built from the
 * fields (Date.UTC, which has no time zone) reads back the same fields only when it exists.
 */
function isRealTime(year: number, month: number, day: number, hour: number, minute: number, second: number, weekday?: string): boolean {
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return false;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return false;
  return weekday === undefined || WEEKDAYS[date.getUTCDay()] === weekday;
}

/**
 * Twilio does not document the Timestamp format: accept ISO 8601 and RFC 2822 naming a real time,
 * else null (the caller keeps the raw string and uses the receive time). The offset is left to Date.
 */
export function parseTwilioTimestamp(raw: string): number | null {
  const iso = ISO_8601.exec(raw);
  const rfc = iso ? null : RFC_2822.exec(raw);
  const real = iso
    ? isRealTime(Number(iso[1]), Number(iso[2]), Number(iso[3]), Number(iso[4]), Number(iso[5]), Number(iso[6] ?? 0))
    : rfc
      ? isRealTime(Number(rfc[4]), MONTHS.indexOf(rfc[3]!) + 1, Number(rfc[2]), Number(rfc[5]), Number(rfc[6]), Number(rfc[7] ?? 0), rfc[1])
      : false;
  if (!real) return null;
  const ms = Date.parse(raw);
  return Number.isFinite(ms) ? ms : null;
}
