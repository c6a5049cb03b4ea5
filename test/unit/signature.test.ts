import { isValidTwilioSignature } from '../../src/twilio/signature';

describe('isValidTwilioSignature', () => {
  // Twilio's published example (Security docs): token 12345.
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
  const expected = 'RSOYDt4T1cUTdK1PDd93/VVr8B8=';

  it("accepts Twilio's published test vector", () => {
    expect(isValidTwilioSignature(['12345'], expected, url, params)).toBe(true);
  });

  it('accepts the vector when 12345 is the secondary token', () => {
    expect(isValidTwilioSignature(['other-token', '12345'], expected, url, params)).toBe(true);
  });

  it.each([
    ['another token', ['54321'], url, params],
    ['a changed parameter', ['12345'], url, { ...params, Digits: '1235' }],
    ['an extra parameter', ['12345'], url, { ...params, Extra: '' }],
    ['a changed query', ['12345'], 'https://mycompany.com/myapp.php?foo=1&bar=3', params],
    ['a changed path', ['12345'], 'https://mycompany.com/myapp.php2?foo=1&bar=2', params],
  ])('refuses the vector with %s', (_what, tokens, u, p) => {
    expect(isValidTwilioSignature(tokens, expected, u, p)).toBe(false);
  });

  it('refuses a malformed URL without throwing', () => {
    expect(isValidTwilioSignature(['12345'], expected, 'not a url', params)).toBe(false);
  });
});
