import type RequestClientT from 'twilio/lib/base/RequestClient';
import type TwilioT from 'twilio/lib/rest/Twilio';
import type { SiprecListInstanceCreateOptions } from 'twilio/lib/rest/api/v2010/account/call/siprec';
import type { Config } from '../config';
import type { Track } from '../domain/routing';

export interface SiprecStartOptions {
  connectorName: string;
  name: string;
  track: Track;
  statusCallback: string;
  statusCallbackMethod: 'POST' | 'GET';
  parameters: ReadonlyArray<{ name: string; value: string }>;
}

/** Twilio's Siprec resource, as far as we use it. */
export interface SiprecResource {
  sid: string;
  name: string;
  status: string;
}

export interface SiprecApi {
  start(callSid: string, options: SiprecStartOptions): Promise<SiprecResource>;
  /** Twilio accepts the session's name or its SID. */
  stop(callSid: string, nameOrSid: string): Promise<SiprecResource>;
}

export interface SiprecApiOptions {
  accountSid: string;
  authToken: string;
  apiKeySid?: string;
  apiKeySecret?: string;
  /** Another origin for every REST call, e.g. a fake Twilio on 127.0.0.1. */
  apiBaseUrl?: string;
  timeoutMs?: number;
}

/** Twilio's documented limit on `ParameterN.*` for a REST-started Siprec. */
export const MAX_REST_PARAMETERS = 99;
export const DEFAULT_TWILIO_TIMEOUT_MS = 10_000;

/** `unauthorized`: Twilio refused our credentials (401) or their permissions (403), whatever was asked. */
export type TwilioApiErrorKind = 'not-found' | 'unauthorized' | 'rejected' | 'unavailable';

/** A Twilio REST failure, sorted by what the caller can do about it. */
export class TwilioApiError extends Error {
  constructor(
    readonly kind: TwilioApiErrorKind,
    message: string,
    /** Twilio's HTTP status; null when no answer came. */
    readonly status: number | null,
    /** Twilio's error code (e.g. 20404), when it sent one. */
    readonly code: number | null,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.name = 'TwilioApiError';
  }
}

type RequestOptions = Parameters<RequestClientT['request']>[0];

/**
 * The REST client and its HTTP stack are most of the twilio package's memory, and only the operator
 * API uses them: they are loaded on its first call, not at start-up.
 */
async function loadTwilioRest(): Promise<{ Twilio: typeof TwilioT; RequestClient: typeof RequestClientT }> {
  // Both modules are `module.exports = Class`, which esModuleInterop's import() puts on `default`.
  const [{ default: Twilio }, { default: RequestClient }] = await Promise.all([
    import('twilio/lib/rest/Twilio'),
    import('twilio/lib/base/RequestClient'),
  ]);
  return { Twilio, RequestClient };
}

/**
 * Sends every request to `base` whatever host the twilio client chose. Rewriting the URL the client
 * built (rather than configuring its domain) also undoes TWILIO_REGION/TWILIO_EDGE, which would
 * otherwise turn the host into api.<edge>.<region>.twilio.com.
 */
function originRewritingClient(RequestClient: typeof RequestClientT, base: URL | undefined, timeoutMs: number): RequestClientT {
  class OriginRewritingClient extends RequestClient {
    override request<TData>(opts: RequestOptions & { data?: TData }) {
      if (!base) return super.request<TData>(opts);
      const original = new URL(opts.uri);
      const prefix = base.pathname.replace(/\/+$/, '');
      const target = new URL(`${prefix}${original.pathname}${original.search}`, base.origin);
      return super.request<TData>({ ...opts, uri: target.href });
    }
  }
  return new OriginRewritingClient({ timeout: timeoutMs, autoRetry: false });
}

function describeNetworkFailure(err: { code?: unknown; message?: unknown }): string {
  const code = typeof err.code === 'string' ? err.code : undefined;
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') return 'Twilio did not answer in time';
  return `Twilio could not be reached${code ? ` (${code})` : ''}`;
}

/** Sorts whatever the twilio client threw; anything that is not Twilio's or the network's is a bug and rethrown. */
export function toTwilioApiError(err: unknown): unknown {
  if (err instanceof TwilioApiError) return err;
  const e = err as { isAxiosError?: unknown; status?: unknown; code?: unknown; message?: unknown; detail?: unknown };
  if (e && e.isAxiosError === true) return new TwilioApiError('unavailable', describeNetworkFailure(e), null, null, { cause: err });
  if (e && typeof e.status === 'number') {
    const status = e.status;
    const code = typeof e.code === 'number' ? e.code : null;
    const message = typeof e.detail === 'string' ? e.detail : typeof e.message === 'string' && e.message ? e.message : `Twilio answered ${status}`;
    const kind: TwilioApiErrorKind =
      status === 404 ? 'not-found' : status === 401 || status === 403 ? 'unauthorized' : status >= 400 && status < 500 ? 'rejected' : 'unavailable';
    return new TwilioApiError(kind, message, status, code, { cause: err });
  }
  return err;
}

function resource(r: { sid?: unknown; name?: unknown; status?: unknown }): SiprecResource {
  // A 2xx that is not a Siprec resource (a proxy's page, say) must not be recorded as a session.
  if (typeof r.sid !== 'string' || !r.sid || typeof r.status !== 'string') {
    throw new TwilioApiError('unavailable', 'Twilio answered with something that is not a Siprec resource', null, null);
  }
  return { sid: r.sid, name: typeof r.name === 'string' && r.name ? r.name : r.sid, status: r.status };
}

export function createSiprecApi(options: SiprecApiOptions): SiprecApi {
  const { accountSid, authToken, apiKeySid, apiKeySecret, apiBaseUrl } = options;
  if (!/^AC[0-9a-f]{32}$/.test(accountSid)) throw new Error('createSiprecApi needs an AccountSid (AC + 32 hex)');
  if (Boolean(apiKeySid) !== Boolean(apiKeySecret)) throw new Error('createSiprecApi needs both apiKeySid and apiKeySecret, or neither');
  if (!apiKeySid && !authToken) throw new Error('createSiprecApi needs an auth token or an API key');
  const base = apiBaseUrl === undefined ? undefined : new URL(apiBaseUrl);
  if (base && base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('apiBaseUrl must be an http(s) URL');

  let client: TwilioT | undefined;
  const rest = async (): Promise<TwilioT> => {
    if (client) return client;
    const { Twilio, RequestClient } = await loadTwilioRest();
    // Two first calls at once both wait for the load: one client, made by whichever resumes first.
    if (client) return client;
    const httpClient = originRewritingClient(RequestClient, base, options.timeoutMs ?? DEFAULT_TWILIO_TIMEOUT_MS);
    // With an API key the key SID is the user name and the account goes in accountSid.
    client = apiKeySid ? new Twilio(apiKeySid, apiKeySecret, { accountSid, httpClient }) : new Twilio(accountSid, authToken, { accountSid, httpClient });
    return client;
  };

  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw toTwilioApiError(err);
    }
  };

  return {
    start: (callSid, o) => {
      if (o.parameters.length > MAX_REST_PARAMETERS) {
        return Promise.reject(new Error(`at most ${MAX_REST_PARAMETERS} parameters can be sent to Twilio`));
      }
      const params: Record<string, string> = {
        name: o.name,
        connectorName: o.connectorName,
        track: o.track,
        statusCallback: o.statusCallback,
        statusCallbackMethod: o.statusCallbackMethod,
      };
      // twilio-node's option names for the form fields Parameter1.Name, Parameter1.Value, …
      o.parameters.forEach((p, i) => {
        params[`parameter${i + 1}.name`] = p.name;
        params[`parameter${i + 1}.value`] = p.value;
      });
      return call(async () => resource(await (await rest()).calls(callSid).siprec.create(params as SiprecListInstanceCreateOptions)));
    },
    stop: (callSid, nameOrSid) => call(async () => resource(await (await rest()).calls(callSid).siprec(nameOrSid).update({ status: 'stopped' }))),
  };
}

/** The REST client for the configured account: the primary token, or the API key when one is set. */
export function siprecApiFromConfig(twilio: Config['twilio']): SiprecApi {
  return createSiprecApi({
    accountSid: twilio.accountSid,
    authToken: twilio.authTokens[0]!,
    apiKeySid: twilio.apiKeySid,
    apiKeySecret: twilio.apiKeySecret,
    apiBaseUrl: twilio.apiBaseUrl,
  });
}
