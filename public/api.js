// The operator API, same origin. Paths are relative so the page also works behind a proxy prefix
// (https://example.com/siprec/). The browser adds the Basic credentials it was given for this page.

export class ApiError extends Error {
  constructor(status, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.details = Array.isArray(details) ? details : [];
  }
}

/** What an operator should do about a failure, in one sentence after the server's own message. */
export function advice(err) {
  if (!(err instanceof ApiError)) return 'Reload the page; if it keeps failing, check the browser console.';
  if (err.status === 0 && err.timedOut) return 'The server took too long to answer: it or a proxy in front of it may be stuck.';
  if (err.status === 0) return 'The server did not answer: check that siprec-control is running and reachable.';
  if (err.status === 401) return 'Not signed in: reload the page and sign in with any user name and ADMIN_TOKEN as the password.';
  if (err.status === 429) return 'Too many failed sign-ins from this address: wait a minute, then reload the page and sign in.';
  if (err.status === 503) return 'The database is not answering: check the disk and the server log.';
  if (err.status === 502) return 'Twilio could not be reached: try again in a moment.';
  if (err.status >= 500) return 'The server failed: see its log for this request.';
  return '';
}

function detailLine(d) {
  if (d === null || typeof d !== 'object') return String(d);
  if ('twilioCode' in d || 'twilioMessage' in d) {
    const code = d.twilioCode ? ` ${d.twilioCode}` : '';
    const status = d.twilioStatus ? ` (HTTP ${d.twilioStatus})` : '';
    return `Twilio error${code}${status}: ${d.twilioMessage ?? 'no message'}`;
  }
  if ('message' in d) return d.path ? `${d.path}: ${d.message}` : String(d.message);
  return Object.entries(d)
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' · ');
}

/** One line per detail the API sent (validation problems, Twilio's code and message). */
export function detailLines(err) {
  return err instanceof ApiError ? err.details.map(detailLine) : [];
}

/**
 * How long a read may take before the page stops waiting: a hung API must not freeze the refresh
 * loop. Writes wait longer, since they wait for Twilio (up to 10 s) and then the ledger.
 */
export const WRITE_DEADLINE_MS = 30_000;

/** Aborted on purpose (a newer refresh replaced this one): nobody is waiting for its answer. */
export const isAborted = (err) => err instanceof ApiError && err.aborted === true;

async function request(path, { method = 'GET', body, signal, deadlineMs = WRITE_DEADLINE_MS } = {}) {
  const deadline = AbortSignal.timeout(deadlineMs);
  let res;
  let text;
  try {
    res = await fetch(path, {
      method,
      cache: 'no-store',
      credentials: 'same-origin',
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
    });
    text = await res.text();
  } catch {
    if (deadline.aborted) {
      const err = new ApiError(0, `No answer within ${Math.round(deadlineMs / 1000)} s`);
      err.timedOut = true;
      throw err;
    }
    if (signal?.aborted) {
      const err = new ApiError(0, 'Replaced by a newer request');
      err.aborted = true;
      throw err;
    }
    throw new ApiError(0, 'No answer from the server');
  }
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // A proxy's HTML error page, say: report the status instead of the body.
  }
  if (!res.ok) {
    const message = data && typeof data.error === 'string' ? data.error : `HTTP ${res.status} ${res.statusText}`.trim();
    throw new ApiError(res.status, message, data?.details);
  }
  return data;
}

const LIST_PARAMS = ['state', 'connectorPrefix', 'callSid', 'siprecSid', 'phone', 'since', 'until', 'limit', 'cursor'];

/** `opts`: { signal, deadlineMs } for reads. */
export function listSessions(query, opts) {
  const q = new URLSearchParams();
  for (const key of LIST_PARAMS) if (query[key]) q.set(key, String(query[key]));
  if (query.withTotal) q.set('withTotal', 'true');
  return request(`api/sessions?${q}`, opts);
}

export const getStats = (opts) => request('api/stats', opts);
export const getOverview = (opts) => request('api/overview', opts);
export const getCall = (callSid, opts) => request(`api/calls/${encodeURIComponent(callSid)}`, opts);
export const startSiprec = (callSid, body) => request(`api/calls/${encodeURIComponent(callSid)}/siprec`, { method: 'POST', body });
export const stopSiprec = (callSid, name) =>
  // A JSON body although the stop needs none: with Basic credentials the server refuses anything else (CSRF).
  request(`api/calls/${encodeURIComponent(callSid)}/siprec/${encodeURIComponent(name)}/stop`, { method: 'POST', body: {} });

/** Readiness is outside /api and answers 503 with a reason when the database cannot take a write. */
export async function getReady({ signal, deadlineMs = WRITE_DEADLINE_MS } = {}) {
  const deadline = AbortSignal.timeout(deadlineMs);
  try {
    const res = await fetch('readyz', { cache: 'no-store', signal: signal ? AbortSignal.any([signal, deadline]) : deadline });
    return res.ok;
  } catch {
    return null;
  }
}
