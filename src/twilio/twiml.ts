// The module itself, not the package's index: that would load the whole REST client too.
import VoiceResponse from 'twilio/lib/twiml/VoiceResponse';
import type { Continuation, PlannedSiprec } from '../domain/routing';

type VoiceResponseT = InstanceType<typeof VoiceResponse>;

export const STATUS_CALLBACK_PATH = '/twilio/siprec-status';
/**
 * Twilio connection overrides (a fragment, so never part of the signed URL): retry the status
 * callback up to 5 times on connect timeout, read timeout or a 5xx, so that a 503 from a ledger
 * that could not commit is delivered again rather than lost.
 */
export const STATUS_CALLBACK_OVERRIDES = '#rc=5&rp=ct,rt,5xx';

export function statusCallbackUrl(publicBaseUrl: string): string {
  return `${publicBaseUrl}${STATUS_CALLBACK_PATH}${STATUS_CALLBACK_OVERRIDES}`;
}

/** Appends the route's continuation: without one Twilio hangs up right after `<Start>`. */
export function appendContinuation(response: VoiceResponseT, then: Continuation): void {
  if ('redirect' in then) {
    response.redirect({ method: 'POST' }, then.redirect);
  } else if ('enqueue' in then) {
    response.enqueue(then.enqueue);
  } else if (then.dial.startsWith('sip:')) {
    response.dial().sip(then.dial);
  } else if (then.dial.startsWith('client:')) {
    response.dial().client(then.dial.slice('client:'.length));
  } else {
    response.dial().number(then.dial);
  }
}

/** `<Start>` with one `<Siprec>` per planned session, then the route's continuation. */
export function buildStartTwiml(plan: readonly PlannedSiprec[], then: Continuation, publicBaseUrl: string): string {
  const response = new VoiceResponse();
  const start = response.start();
  for (const target of plan) {
    const siprec = start.siprec({
      name: target.name,
      connectorName: target.connectorName,
      track: target.track,
      statusCallback: statusCallbackUrl(publicBaseUrl),
      statusCallbackMethod: target.statusCallbackMethod,
    });
    for (const p of target.parameters) siprec.parameter({ name: p.name, value: p.value });
  }
  appendContinuation(response, then);
  return response.toString();
}

/** `<Stop>` with a `<Siprec name>` per session, then `<Redirect>` to next or the route's continuation. */
export function buildStopTwiml(names: readonly string[], next: Continuation): string {
  const response = new VoiceResponse();
  if (names.length > 0) {
    const stop = response.stop();
    for (const name of names) stop.siprec({ name });
  }
  appendContinuation(response, next);
  return response.toString();
}
