import { findPhoneNumbersInText, isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/min';

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

/**
 * Twilio's identifiers, enums and counters: kept as sent in every mode, even where all digits
 * (Timestamp, ApiVersion, an error code), so that no one of them is ever read as a phone number.
 */
export const KEPT_PARAMETERS = new Set([
  'AccountSid', 'CallSid', 'ParentCallSid', 'SiprecSid', 'SiprecName', 'SiprecEvent', 'Timestamp', 'ApiVersion',
  'CallStatus', 'Direction', 'SiprecErrorCode', 'SiprecError', 'ErrorCode', 'CallbackSource', 'SequenceNumber',
  'CallDuration', 'Duration', 'SipResponseCode',
]);

/** Where Twilio says which country a caller or callee is in: the countries a national number may be read in. */
const COUNTRY_HINTS = ['CallerCountry', 'CalledCountry', 'FromCountry', 'ToCountry'] as const;

// Only digits and the punctuation numbers are written with, starting as a number can (a leading
// `-` is a negative quantity, such as a longitude); anything else is not one number.
const PHONE_TEXT = /^[+(\d][\d\s().\-/]*$/;
const SIP_WITH_USER = /^sips?:[^@\s]+@/i;
const CLIENT_WITH_USER = /^client:\S/i;
// The same identities inside a longer value (`"Alice" <sip:alice@pbx>;tag=…`).
const IDENTITY_IN_TEXT = /(?<![a-z0-9])(?:sips?:[^@\s<>"]+@|client:[^\s<>"';,&?/])/i;

/**
 * Whether libphonenumber-js reads `value` as a possible phone number: in international form
 * (`+…`, `00…`, or the digits of one without its `+`, as some carriers send), or in national form
 * in one of `countries`. A `tel:` URI is read as its number.
 */
export function isPhoneNumber(value: string, countries: readonly CountryCode[] = []): boolean {
  const text = value.trim().replace(/^tel:/i, '').replace(/;.*$/, '');
  if (!PHONE_TEXT.test(text)) return false;
  const digits = text.replace(/\D/g, '');
  // The shortest numbers anywhere have 4 digits (Tokelau, Niue), the longest 15 plus an 00 prefix.
  if (digits.length < 4 || digits.length > 17) return false;
  const international = text.startsWith('+') ? text : `+${digits.startsWith('00') ? digits.slice(2) : digits}`;
  if (parsePhoneNumberFromString(international)?.isPossible()) return true;
  return !text.startsWith('+') && countries.some((c) => parsePhoneNumberFromString(text, c)?.isPossible());
}

/**
 * The value as written, and as it reads once full-width characters (`＋４４…`) are folded and
 * percent-escapes (`%2B44…` in a URL, up to twice encoded) decoded: a number hidden either way is
 * still the caller's.
 */
function readings(value: string): string[] {
  const out = [value];
  let text = value.normalize('NFKC');
  if (text !== value) out.push(text);
  for (let i = 0; i < 2 && /%[0-9a-f]{2}/i.test(text); i++) {
    text = text.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    out.push(text);
  }
  return out;
}

// `extended`: libphonenumber's POSSIBLE leniency, the same test as isPhoneNumber's (a number need not
// be in an allocated range). International numbers only: a national one in free text is too often
// a duration, a version or a timestamp.
// Without a `+` there is none to find: most values are spared the search, the costliest step here.
const numbersIn = (text: string) => (/[+\uFF0B]/.test(text) && /\p{Nd}/u.test(text) ? findPhoneNumbersInText(text, { extended: true }) : []);

function holdsPersonal(text: string, countries: readonly CountryCode[]): boolean {
  const trimmed = text.trim();
  if (SIP_WITH_USER.test(trimmed) || CLIENT_WITH_USER.test(trimmed) || isPhoneNumber(text, countries)) return true;
  return IDENTITY_IN_TEXT.test(text) || numbersIn(text).length > 0;
}

/**
 * A value that identifies a person: a phone number, or a sip:/client: identity with a user part,
 * as the whole value or inside it, as written or once folded or decoded (see readings).
 */
export function isPersonalValue(value: string, countries: readonly CountryCode[] = []): boolean {
  return readings(value).some((text) => holdsPersonal(text, countries));
}

/**
 * A personal value masked: the whole value when it is one number, or holds a sip:/client: identity
 * (a SIP header's display name is the caller's name as much as CallerName is); otherwise each
 * number inside it where it stands, so the rest of the text stays readable; and the whole value
 * again if a number is left (it was encoded or folded, and so not where the pieces were found).
 */
function maskValue(value: string, countries: readonly CountryCode[]): string {
  if (isPhoneNumber(value, countries) || readings(value).some((t) => IDENTITY_IN_TEXT.test(t))) return maskNumber(value);
  let text = value;
  for (const found of numbersIn(text).reverse()) {
    text = `${text.slice(0, found.startsAt)}${maskNumber(text.slice(found.startsAt, found.endsAt))}${text.slice(found.endsAt)}`;
  }
  return isPersonalValue(text, countries) ? maskNumber(value) : text;
}

const countriesOf = (params: Record<string, unknown>): CountryCode[] =>
  COUNTRY_HINTS.map((k) => params[k]).filter((c): c is CountryCode => typeof c === 'string' && isSupportedCountry(c));

/** One parameter's value as the mode keeps it; undefined when it goes. Repeated parameters arrive as arrays. */
function redactValue(value: unknown, mode: Exclude<CallerNumberMode, 'full'>, countries: readonly CountryCode[]): unknown {
  if (Array.isArray(value)) {
    const kept = value.map((v) => redactValue(v, mode, countries)).filter((v) => v !== undefined);
    return kept.length > 0 ? kept : undefined;
  }
  if (typeof value !== 'string' || !isPersonalValue(value, countries)) return value;
  return mode === 'masked' ? maskValue(value, countries) : undefined;
}

/**
 * A copy of Twilio's parameters as STORE_CALLER_NUMBERS allows, for the stored raw payload: the
 * known personal parameters masked or dropped, and then any other parameter whose value is a phone
 * number or a sip:/client: identity, whatever its name (Twilio and carriers add parameters, such
 * as CalledVia, that no list names). Twilio's identifiers and enums are kept as sent.
 */
export function redactParameters(params: Record<string, unknown>, mode: CallerNumberMode): Record<string, unknown> {
  if (mode === 'full') return { ...params };
  const countries = countriesOf(params);
  const personal = new Set<string>(PERSONAL_PARAMETERS);
  const out: Array<[string, unknown]> = [];
  for (const [key, v] of Object.entries(params)) {
    if (KEPT_PARAMETERS.has(key)) out.push([key, v]);
    else if (personal.has(key)) {
      // A name cannot be masked usefully: it goes in both modes.
      if (mode === 'masked' && key !== 'CallerName' && typeof v === 'string') out.push([key, maskNumber(v)]);
    } else {
      const kept = redactValue(v, mode, countries);
      if (kept !== undefined) out.push([key, kept]);
    }
  }
  // fromEntries defines each key as the object's own, `__proto__` included.
  return Object.fromEntries(out);
}

/** `<Parameter>` values as STORE_CALLER_NUMBERS allows: a number is masked, or the parameter dropped. */
export function redactParameterList(parameters: ReadonlyArray<{ name: string; value: string }>, mode: CallerNumberMode): Array<{ name: string; value: string }> {
  if (mode === 'full') return parameters.map((p) => ({ ...p }));
  return parameters.flatMap((p) => {
    if (!isPersonalValue(p.value)) return [{ ...p }];
    return mode === 'masked' ? [{ name: p.name, value: maskValue(p.value, []) }] : [];
  });
}
