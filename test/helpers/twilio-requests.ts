import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN } from './env';

export const hex32 = () => randomBytes(16).toString('hex');
export const newCallSid = () => `CA${hex32()}`;
export const newSiprecSid = () => `SR${hex32()}`;

/** The signature Twilio would send, computed by the twilio package itself. */
export function sign(url: string, params: Record<string, string | string[]>, token = TEST_AUTH_TOKEN): string {
  return twilio.getExpectedTwilioSignature(token, url, params);
}

/** A realistic voice webhook form (the ~15 fields Twilio sends for an inbound call). */
export function buildVoiceForm(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    AccountSid: TEST_ACCOUNT_SID,
    ApiVersion: '2010-04-01',
    CallSid: newCallSid(),
    CallStatus: 'ringing',
    Called: '+15550001111',
    CalledCity: 'SAN FRANCISCO',
    CalledCountry: 'US',
    CalledState: 'CA',
    CalledZip: '94105',
    Caller: '+14155550100',
    CallerCity: 'OAKLAND',
    CallerCountry: 'US',
    CallerState: 'CA',
    Direction: 'inbound',
    From: '+14155550100',
    To: '+15550001111',
    ...overrides,
  };
}

/** A SIPREC status callback as Twilio posts it. */
export function buildStatusCallback(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    AccountSid: TEST_ACCOUNT_SID,
    CallSid: newCallSid(),
    SiprecSid: newSiprecSid(),
    SiprecName: 'gridspace',
    SiprecEvent: 'siprec-started',
    Timestamp: new Date().toISOString(),
    ...overrides,
  };
}
