import { keepNumber, maskNumber, redactParameters } from '../../src/domain/privacy';

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
