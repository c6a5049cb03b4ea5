import { parsePhoneNumberFromString } from 'libphonenumber-js/min';
import { z } from 'zod';
import { maskNumber, type CallerNumberMode } from '../domain/privacy';
import { HttpError } from '../http/errors';
import type { SessionQuery } from '../store/store';

const SIPREC_SID = /^SR[0-9a-f]{32}$/;
const instant = (name: string) =>
  z
    .string({ error: `${name} must be given once` })
    .pipe(z.iso.datetime({ offset: true, error: `${name} must be an ISO 8601 date and time with its zone, e.g. 2025-03-01T12:00:00Z` }))
    .transform((v) => Date.parse(v));

/** The search filters of GET /api/sessions beyond state, callSid and connectorName. */
export const searchFields = {
  connectorPrefix: z
    .string({ error: 'connectorPrefix must be given once' })
    .min(1, 'connectorPrefix must not be empty')
    .max(128, 'connectorPrefix must be at most 128 characters')
    .optional(),
  siprecSid: z.string({ error: 'siprecSid must be given once' }).regex(SIPREC_SID, 'siprecSid must be SR followed by 32 lowercase hex digits').optional(),
  phone: z.string({ error: 'phone must be given once' }).trim().min(1, 'phone must not be empty').max(64, 'phone must be at most 64 characters').optional(),
  since: instant('since').optional(),
  until: instant('until').optional(),
  withTotal: z.enum(['true', 'false'], { error: 'withTotal must be true or false' }).transform((v) => v === 'true').optional(),
};

/**
 * A number as the ledger would have stored it: E.164 when it parses as a phone number ("+1 415
 * 555-0100" → "+14155550100"), else as given (client:alice, sip:…); masked the way the ledger
 * masks it under STORE_CALLER_NUMBERS=masked, unless it already is a mask.
 */
export function storedNumber(input: string, mode: CallerNumberMode): string {
  if (mode === 'none') {
    throw new HttpError(400, 'search by phone number is unavailable: STORE_CALLER_NUMBERS=none stores no numbers');
  }
  const parsed = input.startsWith('+') ? parsePhoneNumberFromString(input) : undefined;
  const number = parsed?.isPossible() ? parsed.number : input;
  return mode === 'masked' && !number.includes('*') ? maskNumber(number) : number;
}

type Parsed = Omit<SessionQuery, 'phone'> & { phone?: string };

/** The store's query for a parsed request; refuses a range that ends before it starts. */
export function searchQuery(q: Parsed, mode: CallerNumberMode): SessionQuery {
  if (q.since !== undefined && q.until !== undefined && q.since >= q.until) {
    throw new HttpError(400, 'query is malformed', { details: [{ path: 'until', message: 'until must be after since' }] });
  }
  const { phone, ...rest } = q;
  return phone === undefined ? rest : { ...rest, phone: storedNumber(phone, mode) };
}
