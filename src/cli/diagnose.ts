/**
 * Turns a failed Twilio-side request into the likely cause, in the terms an operator can act on.
 * The signature gate answers 400 (no header), 403 with a reason (mismatch, other account); a proxy
 * adds redirects, 404s and 502s of its own.
 */
import { describeReply, NoReplyError, type Reply } from './twilio-client-sim';

export interface Diagnosis {
  detail: string;
  hint?: string;
}

export function diagnoseNoReply(err: NoReplyError, url: string): Diagnosis {
  return {
    detail: err.message,
    hint: `nothing answered at ${url}: is the instance running, and is --url the address it (or its proxy) listens on?`,
  };
}

/** Why a signed request to /twilio/* was not answered with success. */
export function diagnoseTwilioReply(reply: Reply, ctx: { path: string; url: string; publicBaseUrl: string }): Diagnosis {
  const detail = describeReply(reply);
  const said = detail.toLowerCase();
  if (reply.status === 403 && said.includes('another twilio account')) {
    return { detail, hint: "the instance's TWILIO_ACCOUNT_SID is not the account this configuration signs for: the two configurations differ" };
  }
  if (reply.status === 403) {
    return {
      detail: `${detail}: signature mismatch`,
      hint: [
        `the instance computed another X-Twilio-Signature for ${ctx.publicBaseUrl}${ctx.path}. Either:`,
        `- PUBLIC_BASE_URL is not exactly the URL Twilio calls: scheme (https), host, port and path prefix must`,
        `  all match, here and on the instance (behind a proxy: the public URL, not the internal one); or`,
        `- TWILIO_AUTH_TOKEN differs between this configuration and the instance's (or the token was rotated).`,
      ].join('\n'),
    };
  }
  if (reply.status === 400 && said.includes('x-twilio-signature')) {
    return { detail, hint: 'the request reached the instance without X-Twilio-Signature: a proxy in front of it drops the header; forward it unchanged' };
  }
  if (reply.status >= 300 && reply.status < 400) {
    return {
      detail,
      hint: `${ctx.url}${ctx.path} redirects. Twilio does not sign a redirected request again, so the signature check fails there: point --url and PUBLIC_BASE_URL at the final URL`,
    };
  }
  if (reply.status === 404) {
    return { detail, hint: `no ${ctx.path} at ${ctx.url}: check --url, and that the proxy forwards the path (a prefix it strips must be in PUBLIC_BASE_URL)` };
  }
  if (reply.status === 503 && ctx.path.includes('siprec-status')) {
    return { detail, hint: 'the instance could not commit the event to its ledger (disk full, read-only file, locked database); Twilio would retry' };
  }
  if (reply.status >= 500) return { detail, hint: 'the instance (or its proxy) failed; see its log for this request' };
  return { detail };
}

/** Why the operator API refused a request. */
export function diagnoseApiReply(reply: Reply): Diagnosis {
  const detail = describeReply(reply);
  if (reply.status === 401) return { detail, hint: "the admin token was refused: pass the instance's ADMIN_TOKEN with --admin-token" };
  if (reply.status === 404 && reply.contentType.includes('json') && !detail.includes('no route')) {
    return { detail, hint: 'the instance did not record this call: its ledger may not be writing (look for LEDGER WRITE FAILED in its log)' };
  }
  return { detail };
}
