import { isPossiblePhoneNumber, validatePhoneNumberLength, AsYouType } from 'libphonenumber-js/min';

/** The form Twilio sends `To` and `From` in, and the only form a route's numbers match. */
export const E164 = /^\+[1-9]\d{1,14}$/;

/**
 * Why an E.164-shaped number cannot exist, or undefined when it can. "Possible" (libphonenumber's
 * length rules per country calling code), not "valid" (its number-range tables): validity refuses
 * the fictional +1 555 numbers of every example and test, and lags behind countries that open new
 * ranges, while a number of the wrong length or with no country is always a typo.
 */
function impossibleNumber(number: string): string | undefined {
  if (isPossiblePhoneNumber(number)) return undefined;
  const reason = validatePhoneNumberLength(number);
  if (reason === 'INVALID_COUNTRY') return 'no country has this calling code';
  const typed = new AsYouType();
  typed.input(number);
  const cc = typed.getCallingCode();
  const country = cc ? `country code +${cc}` : 'its country code';
  if (reason === 'TOO_SHORT') return `too short for ${country}`;
  if (reason === 'TOO_LONG') return `too long for ${country}`;
  return `no number of this length exists for ${country}`;
}

/**
 * The problem with a number written where Twilio's E.164 form is needed: `notE164` when it is not
 * in that form, why it cannot exist when it is, undefined when it is a possible number.
 */
export function phoneNumberProblem(number: string, notE164: string): string | undefined {
  if (!E164.test(number)) return notE164;
  const why = impossibleNumber(number);
  return why && `${number} is not a possible phone number: ${why}`;
}
