import fc from 'fast-check';
import { deriveSession, isTimestampSkewed, ledgerNameOf, parseTwilioTimestamp, type EventFact } from '../../src/domain/sessions';

const base = Date.UTC(2026, 10, 26, 9, 0, 0);
const eventArb: fc.Arbitrary<EventFact> = fc.record({
  event: fc.constantFrom('siprec-started', 'siprec-stopped', 'siprec-error', 'siprec-paused'),
  timestampRaw: fc.integer({ min: 0, max: 600 }).map((s) => new Date(base + s * 1000).toISOString()),
  occurredAt: fc.constant(null),
  receivedAt: fc.constant(base),
  errorCode: fc.option(fc.constantFrom('64101', '64102', '64111'), { nil: null }),
  errorMessage: fc.option(fc.constantFrom('connector unreachable', 'SRS refused'), { nil: null }),
}).map((e) => ({ ...e, occurredAt: Date.parse(e.timestampRaw) }));

/** The same set of events, in another order, with some delivered more than once. */
const deliveries = fc
  .array(eventArb, { minLength: 0, maxLength: 8 })
  .chain((set) =>
    fc.tuple(
      fc.constant(set),
      fc.shuffledSubarray(set, { minLength: 0, maxLength: set.length }).chain((dups) => fc.shuffledSubarray([...set, ...dups], { minLength: set.length + dups.length })),
    ),
  );

describe('deriveSession', () => {
  it('depends only on the set of events, never on their order or repetition', () => {
    fc.assert(
      fc.property(deliveries, ([set, delivered]) => {
        expect(deriveSession(delivered)).toEqual(deriveSession(set));
      }),
      { numRuns: 500 },
    );
  });

  it('reads stopped whenever a stop is among the events, keeping any error beside it', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 8 }), (events) => {
        const d = deriveSession(events);
        const has = (kind: string) => events.some((e) => e.event === kind);
        if (has('siprec-stopped')) expect(d.state).toBe('stopped');
        else if (has('siprec-error')) expect(d.state).toBe('failed');
        else if (has('siprec-started')) expect(d.state).toBe('active');
        else expect(d.state).toBe('requested');
        expect(d.errorCode !== null || d.errorMessage !== null).toBe(events.some((e) => e.event === 'siprec-error' && (e.errorCode !== null || e.errorMessage !== null)) && has('siprec-error'));
      }),
      { numRuns: 500 },
    );
  });

  const fact = (event: string, second: number, extra: Partial<EventFact> = {}): EventFact => ({
    event,
    timestampRaw: new Date(base + second * 1000).toISOString(),
    occurredAt: base + second * 1000,
    receivedAt: base + 999_000,
    errorCode: null,
    errorMessage: null,
    ...extra,
  });

  it('leaves a session stopped when a late siprec-started arrives after siprec-stopped', () => {
    const d = deriveSession([fact('siprec-stopped', 60), fact('siprec-started', 1)]);
    expect(d).toEqual({ state: 'stopped', startedAt: base + 1000, stoppedAt: base + 60_000, errorCode: null, errorMessage: null });
  });

  it('keeps the error code and message of a failed session that then stops', () => {
    const d = deriveSession([fact('siprec-started', 1), fact('siprec-error', 5, { errorCode: '64101', errorMessage: 'SRS unreachable' }), fact('siprec-stopped', 9)]);
    expect(d).toMatchObject({ state: 'stopped', errorCode: '64101', errorMessage: 'SRS unreachable' });
  });

  it('changes nothing for an unknown event', () => {
    expect(deriveSession([fact('siprec-paused', 1)]).state).toBe('requested');
    expect(deriveSession([fact('siprec-started', 1), fact('siprec-paused', 2)]).state).toBe('active');
  });

  it('falls back to the received time when Timestamp does not parse', () => {
    expect(deriveSession([fact('siprec-started', 0, { occurredAt: null, timestampRaw: 'soon' })]).startedAt).toBe(base + 999_000);
  });
});

describe('parseTwilioTimestamp', () => {
  it.each([
    ['2026-11-26T09:00:00Z', Date.UTC(2026, 10, 26, 9)],
    ['2026-11-26T09:00:00.123Z', Date.UTC(2026, 10, 26, 9, 0, 0, 123)],
    ['2026-11-26T10:00:00+01:00', Date.UTC(2026, 10, 26, 9)],
    ['Thu, 26 Nov 2026 09:00:00 +0000', Date.UTC(2026, 10, 26, 9)],
    ['26 Nov 2026 09:00:00 GMT', Date.UTC(2026, 10, 26, 9)],
  ])('parses %s', (raw, ms) => {
    expect(parseTwilioTimestamp(raw)).toBe(ms);
  });

  it.each(['', 'yesterday', '1795683482994', '2026-11-26', '2026-13-45T99:00:00Z'])('returns null for %j', (raw) => {
    expect(parseTwilioTimestamp(raw)).toBeNull();
  });

  it.each([
    ['2028-02-29T00:00:00Z', Date.UTC(2028, 1, 29)],
    ['2000-02-29T23:59:59Z', Date.UTC(2000, 1, 29, 23, 59, 59)],
    ['2026-12-31T23:59:59.999-14:00', Date.UTC(2027, 0, 1, 13, 59, 59, 999)],
    ['Thu, 26 Nov 2026 09:00:00 +0000', Date.UTC(2026, 10, 26, 9)],
    ['Tue, 29 Feb 2028 09:00:00 GMT', Date.UTC(2028, 1, 29, 9)],
  ])('parses the real date %s', (raw, ms) => {
    expect(parseTwilioTimestamp(raw)).toBe(ms);
  });

  // Date.parse rolls each of these over to another day instead of refusing it.
  it.each([
    '2026-02-30T09:00:00Z',
    '2026-02-29T09:00:00Z',
    '1900-02-29T09:00:00Z',
    '2026-04-31T09:00:00Z',
    '2026-01-01T24:00:00Z',
    '2026-00-10T09:00:00Z',
    '2026-01-00T09:00:00Z',
    '30 Feb 2026 09:00:00 GMT',
    'Mon, 30 Feb 2026 09:00:00 +0000',
    '31 Jun 2026 09:00:00 +0000',
    'Fri, 26 Nov 2026 09:00:00 +0000',
    '26 Nov 2026 24:00:00 GMT',
  ])('returns null for the impossible %j', (raw) => {
    expect(parseTwilioTimestamp(raw)).toBeNull();
  });
});

describe('isTimestampSkewed', () => {
  const day = 86_400_000;
  it.each([
    [base, base, false],
    [base + day, base, false],
    [base - day, base, false],
    [base + day + 1, base, true],
    [base - day - 1, base, true],
    [Date.UTC(2099, 0, 1), base, true],
    [null, base, false],
  ])('occurred %p, received %p → %p', (occurredAt, receivedAt, skewed) => {
    expect(isTimestampSkewed(occurredAt, receivedAt)).toBe(skewed);
  });
});

describe('ledgerNameOf', () => {
  const A = `SR${'a'.repeat(32)}`;
  const B = `SR${'b'.repeat(32)}`;
  it.each<[string, Array<{ name: string; siprecSid: string | null }>, string, string, string]>([
    ['the session holding the SID, whatever its name', [{ name: 'rec', siprecSid: B }], B, 'other', 'rec'],
    ['the named session that has no SID yet', [{ name: 'rec', siprecSid: null }], B, 'rec', 'rec'],
    ['the name, for a session the ledger does not know', [{ name: 'x', siprecSid: A }], B, 'rec', 'rec'],
    ['the SID, when the name holds another SID', [{ name: 'rec', siprecSid: A }], B, 'rec', B],
    ['the SID-named session made for it before', [{ name: 'rec', siprecSid: A }, { name: B, siprecSid: null }], B, 'rec', B],
  ])('%s', (_what, sessions, sid, name, expected) => {
    expect(ledgerNameOf(sessions, sid, name)).toBe(expected);
  });
});
