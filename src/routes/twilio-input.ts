import { z } from 'zod';
import { NO_CONTROL } from '../domain/text';

export const CALL_SID = /^CA[0-9a-f]{32}$/;
export const ACCOUNT_SID = /^AC[0-9a-f]{32}$/;

const single = (name: string, max = 512) =>
  z.string({ error: `${name} must be a single text value` }).max(max, `${name} must be at most ${max} characters`);

export const voiceRequestSchema = z.looseObject({
  CallSid: single('CallSid').regex(CALL_SID, 'CallSid must be CA followed by 32 hex digits'),
  AccountSid: single('AccountSid').regex(ACCOUNT_SID, 'AccountSid must be AC followed by 32 hex digits'),
  From: single('From').optional(),
  To: single('To').optional(),
  Direction: single('Direction', 64).optional(),
  CallerName: single('CallerName').optional(),
  ForwardedFrom: single('ForwardedFrom').optional(),
});
export type VoiceRequest = z.infer<typeof voiceRequestSchema>;

export const SIPREC_SID = /^SR[0-9a-f]{32}$/;

/**
 * Twilio's SIPREC status callback. Unknown parameters pass through (Twilio adds standard ones and may
 * add more) and are kept in the stored payload. SiprecName falls back to the SID: a session started
 * without a name is still recorded rather than refused.
 */
export const statusCallbackSchema = z
  .looseObject({
    AccountSid: single('AccountSid').regex(ACCOUNT_SID, 'AccountSid must be AC followed by 32 hex digits'),
    CallSid: single('CallSid').regex(CALL_SID, 'CallSid must be CA followed by 32 hex digits'),
    SiprecSid: single('SiprecSid').regex(SIPREC_SID, 'SiprecSid must be SR followed by 32 hex digits'),
    SiprecName: single('SiprecName', 256).regex(NO_CONTROL, 'SiprecName must not contain control characters').optional(),
    SiprecEvent: single('SiprecEvent', 64).min(1, 'SiprecEvent must not be empty').regex(NO_CONTROL, 'SiprecEvent must not contain control characters'),
    Timestamp: single('Timestamp', 64).min(1, 'Timestamp must not be empty'),
    SiprecError: single('SiprecError', 2048).optional(),
    SiprecErrorCode: single('SiprecErrorCode', 64).optional(),
  })
  .transform((p) => ({ ...p, SiprecName: p.SiprecName || p.SiprecSid }));
export type StatusCallback = z.infer<typeof statusCallbackSchema>;

export const stopQuerySchema = z.object({
  name: single('name', 64).regex(/^[A-Za-z0-9_-]{1,64}$/, 'name must be 1-64 characters of A-Z, a-z, 0-9, _ or -').optional(),
  next: single('next', 2048)
    .refine((v) => URL.parse(v)?.protocol === 'https:' && !/\s/.test(v), 'next must be an absolute https URL')
    .optional(),
});

export const callRequestSchema = z.looseObject({
  CallSid: single('CallSid').regex(CALL_SID, 'CallSid must be CA followed by 32 hex digits'),
  AccountSid: single('AccountSid').regex(ACCOUNT_SID, 'AccountSid must be AC followed by 32 hex digits'),
  To: single('To').optional(),
});
