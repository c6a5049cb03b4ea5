import { z } from 'zod';
import { HttpError } from '../http/errors';

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

/** Parses Twilio's parameters or throws a 400 naming each bad field. */
export function parseTwilioInput<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new HttpError(400, `${what} is malformed`, {
    details: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}
