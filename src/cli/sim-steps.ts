/**
 * One simulated Twilio request as one reported step: success is a 2xx; anything else is a failed
 * step with the likely cause. Shared by `simulate` and `npm run demo`.
 */
import { z } from 'zod';
import { STATUS_CALLBACK_PATH } from '../twilio/twiml';
import { diagnoseApiReply, diagnoseNoReply, diagnoseTwilioReply, type Diagnosis } from './diagnose';
import type { StepLog } from './steps';
import type { TwimlSiprec } from './twiml-inspect';
import { CallbackUrlError, NoReplyError, type Reply, type TwilioSim } from './twilio-client-sim';

export async function sendStep(log: StepLog, label: string, send: () => Promise<Reply>, diagnose: (reply: Reply) => Diagnosis, url: string): Promise<Reply | null> {
  try {
    const reply = await send();
    if (reply.status >= 200 && reply.status < 300) return reply;
    const d = diagnose(reply);
    log.fail(label, d.detail, d.hint);
  } catch (err) {
    if (err instanceof NoReplyError) {
      const d = diagnoseNoReply(err, url);
      log.fail(label, d.detail, d.hint);
    } else if (err instanceof CallbackUrlError) log.fail(label, err.message);
    else throw err;
  }
  return null;
}

export function sendVoice(log: StepLog, sim: TwilioSim, label: string, form: Record<string, string>): Promise<Reply | null> {
  const { url, publicBaseUrl } = sim.options;
  return sendStep(log, label, () => sim.voice(form), (r) => diagnoseTwilioReply(r, { path: '/twilio/voice', url, publicBaseUrl }), url);
}

/** Sends a status callback where the TwiML said; the step passes silently, so callers can word the ok line. */
export function sendCallback(log: StepLog, sim: TwilioSim, label: string, siprec: TwimlSiprec, form: Record<string, string>): Promise<Reply | null> {
  const { url, publicBaseUrl } = sim.options;
  const callback = (siprec.statusCallback ?? '').replace(/#.*$/, '');
  const path = callback.startsWith(`${publicBaseUrl}/`) ? callback.slice(publicBaseUrl.length) : STATUS_CALLBACK_PATH;
  return sendStep(log, label, () => sim.statusCallback(siprec, form), (r) => diagnoseTwilioReply(r, { path, url, publicBaseUrl }), url);
}

export function sendApi(log: StepLog, sim: TwilioSim, label: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply | null> {
  return sendStep(log, label, () => sim.api(method, path, body), diagnoseApiReply, sim.options.url);
}

const callBody = z
  .object({
    sessions: z.array(
      z
        .object({
          name: z.string(),
          state: z.string(),
          siprecSid: z.string().nullable().optional(),
          stopRequestedAt: z.string().nullable().optional(),
          errorCode: z.string().nullable().optional(),
          errorMessage: z.string().nullable().optional(),
        })
        .loose(),
    ),
  })
  .loose();
export type LedgerSession = z.infer<typeof callBody>['sessions'][number];

/** GET /api/calls/:sid through the operator API; null (and a failed step) when it cannot be read. */
export async function readCall(log: StepLog, sim: TwilioSim, label: string, callSid: string): Promise<LedgerSession[] | null> {
  const reply = await sendApi(log, sim, label, 'GET', `/api/calls/${callSid}`);
  if (!reply) return null;
  let json: unknown;
  try {
    json = JSON.parse(reply.text);
  } catch {
    json = undefined;
  }
  const body = callBody.safeParse(json);
  if (body.success) return body.data.sessions;
  log.fail(label, `${reply.status}, but the body is not a call with sessions`);
  return null;
}
