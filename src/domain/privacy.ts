import { parsePhoneNumberFromString } from 'libphonenumber-js/min';

export const CALLER_NUMBER_MODES = ['full', 'masked', 'none'] as const;
export type CallerNumberMode = (typeof CALLER_NUMBER_MODES)[number];

/** Values Twilio uses for withheld numbers: no one's personal data, and useful to see. */
const NOT_PERSONAL = new Set(['', 'anonymous', 'restricted', 'unknown', 'private', 'unavailable']);

/**
 * Masks a caller or called number, keeping the country calling code and the last two digits
 * (`+44********50`), enough to tell calls apart on the status page without storing the number.
 * Identifiers that are not E.164 (client:, sip:) keep only their last two characters.
 */
export function maskNumber(value: string): string {
  if (NOT_PERSONAL.has(value.toLowerCase())) return value;
  const tail = value.slice(-2);
  if (/^\+\d{3,15}$/.test(value)) {
    const cc = parsePhoneNumberFromString(value)?.countryCallingCode ?? '';
    return `+${cc}${'*'.repeat(Math.max(0, value.length - 1 - cc.length - 2))}${tail}`;
  }
  return `${'*'.repeat(Math.max(3, value.length - 2))}${tail}`;
}

/** What the ledger keeps of a number under the configured mode. */
export function keepNumber(value: string | null | undefined, mode: CallerNumberMode): string | null {
  if (value === null || value === undefined) return null;
  if (mode === 'full') return value;
  return mode === 'masked' ? maskNumber(value) : null;
}

/** Twilio request parameters that carry a caller's or callee's number or name. */
export const PERSONAL_PARAMETERS = ['From', 'To', 'Caller', 'Called', 'ForwardedFrom', 'CallerName'] as const;

/** A copy of Twilio's parameters with personal ones masked or dropped, for the stored raw payload. */
export function redactParameters(params: Record<string, unknown>, mode: CallerNumberMode): Record<string, unknown> {
  if (mode === 'full') return { ...params };
  const out: Record<string, unknown> = { ...params };
  for (const key of PERSONAL_PARAMETERS) {
    if (!(key in out)) continue;
    const v = out[key];
    // A name cannot be masked usefully: it goes in both modes.
    if (mode === 'none' || key === 'CallerName' || typeof v !== 'string') delete out[key];
    else out[key] = maskNumber(v);
  }
  return out;
}
