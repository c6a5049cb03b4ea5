import fc from 'fast-check';
import { getCountries, getExampleNumber, parsePhoneNumberFromString, type CountryCode, type PhoneNumber } from 'libphonenumber-js/min';
import examples from 'libphonenumber-js/examples.mobile.json';
import { keepNumber, maskNumber, PERSONAL_PARAMETERS, redactParameters } from '../../src/domain/privacy';

describe('maskNumber', () => {
  it.each([
    ['+14155550100', '+1********00'],
    ['+442071838750', '+44********50'],
    ['+35312345678', '+353******78'],
    ['+8613800138000', '+86*********00'],
    ['client:alice', '**********ce'],
    ['sip:bob@pbx.example.com', '*********************om'],
    ['anonymous', 'anonymous'],
    ['', ''],
  ])('masks %s as %s', (raw, masked) => {
    expect(maskNumber(raw)).toBe(masked);
    expect(maskNumber(raw)).toHaveLength(raw.length);
  });
});

describe('keepNumber', () => {
  it('keeps, masks or drops by mode', () => {
    expect(keepNumber('+14155550100', 'full')).toBe('+14155550100');
    expect(keepNumber('+14155550100', 'masked')).toBe('+1********00');
    expect(keepNumber('+14155550100', 'none')).toBeNull();
    expect(keepNumber(undefined, 'full')).toBeNull();
  });
});

describe('redactParameters', () => {
  const params = { From: '+14155550100', Caller: '+14155550100', To: '+15550001111', Called: '+15550001111', CallerName: 'ALICE', CallSid: 'CA1', SiprecEvent: 'siprec-started' };
  it('keeps everything in full mode', () => {
    expect(redactParameters(params, 'full')).toEqual(params);
  });
  it('masks numbers and drops the caller name in masked mode', () => {
    expect(redactParameters(params, 'masked')).toEqual({ From: '+1********00', Caller: '+1********00', To: '+1********11', Called: '+1********11', CallSid: 'CA1', SiprecEvent: 'siprec-started' });
  });
  it('drops every personal parameter in none mode', () => {
    expect(redactParameters(params, 'none')).toEqual({ CallSid: 'CA1', SiprecEvent: 'siprec-started' });
  });
});

describe('redactParameters by value, whatever the parameter is called', () => {
  // Twilio's own identifiers and enums, some of them all digits: never read as numbers.
  const KEPT = {
    AccountSid: 'AC0123456789abcdef0123456789abcdef',
    CallSid: 'CA0123456789abcdef0123456789abcdef',
    SiprecSid: 'SR0123456789abcdef0123456789abcdef',
    SiprecName: 'gridspace',
    SiprecEvent: 'siprec-started',
    Timestamp: '1732611600',
    ApiVersion: '2010-04-01',
    CallStatus: 'in-progress',
    Direction: 'inbound',
    SiprecErrorCode: '64101',
    SequenceNumber: '3',
  };
  const RESERVED = new Set<string>([...Object.keys(KEPT), ...PERSONAL_PARAMETERS, 'CallerCountry', 'CalledCountry', 'FromCountry', 'ToCountry']);

  it('masks CalledVia=+447700900999 like From, and drops it in none mode', () => {
    const params = { ...KEPT, From: '+442071838750', CalledVia: '+447700900999' };
    expect(redactParameters(params, 'masked')).toEqual({ ...KEPT, From: '+44********50', CalledVia: '+44********99' });
    expect(redactParameters(params, 'none')).toEqual(KEPT);
    expect(redactParameters(params, 'full')).toEqual(params);
  });

  const stars = (v: string) => `${'*'.repeat(v.length - 2)}${v.slice(-2)}`;
  it.each([
    ['a SIP URI with a user', 'sip:+447700900999@carrier.example.com', stars('sip:+447700900999@carrier.example.com')],
    ['a SIPS URI with a user', 'sips:alice@pbx.example.com', stars('sips:alice@pbx.example.com')],
    ['a client identity', 'client:alice', '**********ce'],
    ['a tel: URI', 'tel:+44-7700-900999', '*****************99'],
    ['a number in repeated parameters', ['+447700900999', 'queue-1'], ['+44********99', 'queue-1']],
  ])('masks %s', (_what, value, masked) => {
    expect(redactParameters({ Via: value }, 'masked')).toEqual({ Via: masked });
  });

  it.each([
    ['a SIP URI without a user', 'sip:pbx.example.com'],
    ['a short count', '42'],
    ['a date', '2026-11-26'],
    ['text with digits', 'queue 7 of 12'],
    ['an empty value', ''],
  ])('keeps %s', (_what, value) => {
    expect(redactParameters({ Note: value }, 'masked')).toEqual({ Note: value });
    expect(redactParameters({ Note: value }, 'none')).toEqual({ Note: value });
  });

  it('drops only the numbers of repeated parameters in none mode', () => {
    expect(redactParameters({ Via: ['+447700900999', 'queue-1'] }, 'none')).toEqual({ Via: ['queue-1'] });
    expect(redactParameters({ Via: ['+447700900999'] }, 'none')).toEqual({});
  });

  const countries = getCountries().filter((c) => getExampleNumber(c, examples) !== undefined);
  /** A random possible number of a random country: an example number with its last digits changed. */
  const phoneNumber = fc
    .tuple(fc.constantFrom(...countries), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 4 }))
    .map(([country, tail]) => {
      const example = getExampleNumber(country, examples)!;
      const nsn = example.nationalNumber.slice(0, -tail.length) + tail.join('');
      // The country it was made in: a number may not say, where countries share a calling code.
      return { number: parsePhoneNumberFromString(`+${example.countryCallingCode}${nsn}`)!, country };
    })
    .filter(({ number }) => number.isPossible());
  const FORMATS = ['E.164', 'INTERNATIONAL', 'RFC3966', 'IDD', 'digits', 'NATIONAL'] as const;
  /** The number as a parameter value might carry it; a national number comes with Twilio's country hint. */
  const written = ({ number: n, country }: { number: PhoneNumber; country: CountryCode }, format: (typeof FORMATS)[number]): { value: string; hint: Record<string, string> } => {
    switch (format) {
      case 'IDD':
        return { value: `00${n.countryCallingCode}${n.nationalNumber}`, hint: {} };
      case 'digits':
        return { value: `${n.countryCallingCode}${n.nationalNumber}`, hint: {} };
      case 'NATIONAL':
        return { value: n.formatNational(), hint: { CallerCountry: country } };
      default:
        return { value: n.format(format), hint: {} };
    }
  };
  const name = fc.string({ minLength: 1, maxLength: 24 }).filter((s) => !RESERVED.has(s));
  const digits = (v: unknown) => String(v).replace(/\D/g, '');

  it('masks a phone number under any name, in any of its written forms, and keeps the known fields', () => {
    fc.assert(
      fc.property(name, phoneNumber, fc.constantFrom(...FORMATS), (key, generated, format) => {
        const { value, hint } = written(generated, format);
        const { number } = generated;
        const params = { ...KEPT, ...hint, [key]: value };
        const masked = redactParameters(params, 'masked');
        expect(Object.keys(masked).sort()).toEqual(Object.keys(params).sort());
        expect(masked).toMatchObject({ ...KEPT, ...hint });
        const kept = masked[key] as string;
        expect(kept).not.toBe(value);
        expect(kept).not.toContain(number.nationalNumber);
        expect(digits(kept).length).toBeLessThanOrEqual(number.countryCallingCode.length + 2);
      }),
      { numRuns: 500 },
    );
  });

  it('masks every country’s example number in every written form', () => {
    const missed = countries.flatMap((country) =>
      FORMATS.flatMap((format) => {
        const { value, hint } = written({ number: getExampleNumber(country, examples)!, country }, format);
        return redactParameters({ ...hint, Via: value }, 'masked').Via === value ? [`${country} ${format} ${value}`] : [];
      }),
    );
    expect(missed).toEqual([]);
  });

  it('drops a phone number under any name in none mode, and keeps everything else', () => {
    fc.assert(
      fc.property(name, phoneNumber, fc.constantFrom(...FORMATS), (key, generated, format) => {
        const { value, hint } = written(generated, format);
        const none = redactParameters({ ...KEPT, ...hint, [key]: value }, 'none');
        expect(none).toEqual({ ...KEPT, ...hint });
        expect(redactParameters({ ...KEPT, ...hint, [key]: value }, 'full')).toEqual({ ...KEPT, ...hint, [key]: value });
      }),
      { numRuns: 500 },
    );
  });

  it('masks a sip: or client: identifier with a user part under any name', () => {
    const user = fc.stringMatching(/^[a-z0-9+._-]{3,20}$/);
    const host = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}\.example\.(com|net)$/);
    fc.assert(
      fc.property(name, user, host, fc.constantFrom('sip:', 'sips:', 'SIP:', 'client:'), (key, u, h, scheme) => {
        const value = scheme === 'client:' ? `client:${u}` : `${scheme}${u}@${h}`;
        const masked = redactParameters({ ...KEPT, [key]: value }, 'masked');
        expect(masked).toMatchObject(KEPT);
        expect(masked[key]).not.toContain(u);
        expect(redactParameters({ ...KEPT, [key]: value }, 'none')).toEqual(KEPT);
      }),
    );
  });

  it('keeps a value with a letter and no sip:, client: or tel: identifier', () => {
    const text = fc.string({ minLength: 1, maxLength: 40 }).filter((v) => /[A-Za-z]/.test(v) && !/(sips?|client|tel):/i.test(v));
    fc.assert(
      fc.property(name, text, (key, value) => {
        expect(redactParameters({ [key]: value }, 'masked')).toEqual({ [key]: value });
        expect(redactParameters({ [key]: value }, 'none')).toEqual({ [key]: value });
      }),
    );
  });
});

// Twilio passes a SIP call's X- headers on as SipHeader_X-… parameters, and connectors and carriers
// add their own: a number or a SIP identity often sits inside a longer value, not as all of it.
describe('redactParameters on a number or identity inside a longer value', () => {
  const normalized = (v: unknown) => decodeURIComponent(String(v).normalize('NFKC'));
  it.each([
    ['a SIP name-addr', '<sip:+447700900999@carrier.example.com>;tag=9fxced76sl', '7700900999'],
    ['a display name and a SIP URI', '"Alice" <sip:alice.smith@pbx.example.com>', 'alice.smith'],
    ['a SIP URI in text', 'transferred via sips:alice.smith@pbx.example.com by the IVR', 'alice.smith'],
    ['a client identity in text', 'answered by client:alice.smith', 'alice.smith'],
    ['a number in text', 'transferred from +447700900999 by the IVR', '7700900999'],
    ['a number in a URL', 'https://crm.example.com/lookup?phone=+447700900999&src=ivr', '7700900999'],
    ['a percent-encoded number', 'https://crm.example.com/lookup?phone=%2B447700900999', '7700900999'],
    ['a full-width number', '＋４４７７００９００９９９', '7700900999'],
    ['a number with an extension', '+1 415 555 0100 ext. 12', '4155550'],
  ])('masks %s in masked mode and drops it in none mode', (_what, value, secret) => {
    const masked = redactParameters({ CallSid: 'CA1', Note: value }, 'masked');
    expect(masked.CallSid).toBe('CA1');
    expect(normalized(masked.Note).replace(/[\s.()-]/g, '')).not.toContain(secret);
    expect(redactParameters({ CallSid: 'CA1', Note: value }, 'none')).toEqual({ CallSid: 'CA1' });
  });

  it('keeps the text around a masked number', () => {
    expect(redactParameters({ Note: 'transferred from +447700900999 by the IVR' }, 'masked')).toEqual({ Note: 'transferred from +44********99 by the IVR' });
    // An identity takes its display name and parameters with it: the whole value is masked.
    const addr = '"Alice Smith" <sip:+447700900999@carrier.example.com>';
    expect(redactParameters({ Note: addr }, 'masked')).toEqual({ Note: `${'*'.repeat(addr.length - 2)}m>` });
  });

  it('masks a possible number of any country between any text without digits', () => {
    const countries = getCountries().filter((c) => getExampleNumber(c, examples) !== undefined);
    const number = fc
      .tuple(fc.constantFrom(...countries), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 3 }))
      .map(([country, tail]) => {
        const example = getExampleNumber(country, examples)!;
        return parsePhoneNumberFromString(`+${example.countryCallingCode}${example.nationalNumber.slice(0, -tail.length)}${tail.join('')}`)!;
      })
      .filter((n) => n.isPossible());
    const text = fc.stringMatching(/^[A-Za-z <>"'=:;&?/,_]{0,20}$/).map((s) => s.replace(/(sips?|client|tel):/gi, ''));
    fc.assert(
      fc.property(text, number, fc.constantFrom('E.164', 'INTERNATIONAL'), text, (before, n, format, after) => {
        const value = `${before}${before ? ' ' : ''}${n.format(format)}${after ? ' ' : ''}${after}`;
        const masked = redactParameters({ Note: value }, 'masked').Note as string;
        expect(masked.replace(/\D/g, '')).not.toContain(n.nationalNumber);
        expect(redactParameters({ Note: value }, 'none')).toEqual({});
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['a longitude', '-122.4194'],
    ['a negative count', '-4155550100'],
  ])('keeps %s, which no number is written as, even with a country hint', (_what, value) => {
    expect(redactParameters({ CallerCountry: 'US', Note: value }, 'masked')).toEqual({ CallerCountry: 'US', Note: value });
  });
});
