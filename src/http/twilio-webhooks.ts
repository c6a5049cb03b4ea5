import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { Logger } from 'pino';
import { countRequest, type Metrics } from '../metrics';
import type { SignedRequest } from '../twilio/signature';
import { errorReply, HttpError } from './errors';
import { readForm, requireForm } from './form-body';
import { logRequestEnd, requestId } from './request-log';

/** A Twilio webhook as its handler sees it: verified, parsed, and free of any HTTP framework. */
export interface WebhookRequest {
  method: 'GET' | 'POST';
  /** Where Twilio put the call's parameters: the form for POST, the query for GET. */
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  /** This request's logger (with its reqId); made on first use, as most requests log nothing. */
  readonly log: Logger;
}

export type WebhookReply = { status: 200; twiml: string } | { status: 204 };
export type WebhookHandler = (req: WebhookRequest) => Promise<WebhookReply>;

export interface TwilioWebhooksOptions {
  /** Handlers by their full path, e.g. /twilio/voice. */
  routes: Record<string, WebhookHandler>;
  verify: (req: SignedRequest) => void;
  logger: Logger;
  metrics: Pick<Metrics, 'httpRequests' | 'httpRequestDuration'>;
}

const TWILIO_PREFIX = '/twilio';

/** Express matches paths case-insensitively and forgives one trailing slash; so does this edge. */
const routeKey = (path: string) => (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path).toLowerCase();

export function isTwilioPath(url: string | undefined): boolean {
  const p = (url ?? '').slice(0, TWILIO_PREFIX.length + 1).toLowerCase();
  return p === `${TWILIO_PREFIX}/` || p === TWILIO_PREFIX || p === `${TWILIO_PREFIX}?`;
}

/**
 * The edge Twilio talks to, on node:http directly. Twilio's webhooks are the hot path (a caller
 * hears silence while we answer; a burst of callbacks must be absorbed), and Express's routing and
 * response helpers cost more than signature, routing, TwiML and the ledger put together. The steps
 * are those an Express chain would run: request id, method, content type, body limits, signature,
 * handler, one JSON error shape, metrics and one log line.
 */
export function twilioWebhooks(options: TwilioWebhooksOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { logger, metrics, verify } = options;
  const routes = new Map(Object.entries(options.routes).map(([path, handler]) => [routeKey(path), { path, handler }]));

  async function serve(req: IncomingMessage, res: ServerResponse, log: () => Logger, path: string, queryString: string | undefined) {
    const method = req.method;
    if (method !== 'GET' && method !== 'POST') {
      res.setHeader('Allow', 'GET, POST');
      throw new HttpError(405, `${method} is not allowed here; Twilio uses GET or POST`);
    }
    requireForm(req);
    const form = method === 'POST' ? await readForm(req, res) : {};
    const query = queryString ? (parseQuery(queryString) as Record<string, unknown>) : {};
    const params = method === 'POST' ? form : query;
    verify({ signature: header(req, 'x-twilio-signature'), originalUrl: req.url ?? path, signedParams: form, params, log });
    // Only after the signature: a prober learns nothing about which paths under /twilio exist.
    const route = routes.get(routeKey(path));
    if (!route) throw new HttpError(404, `no route for ${method} ${path}`);
    const reply = await route.handler({
      method,
      params,
      query,
      get log() {
        return log();
      },
    });
    if (reply.status === 204) {
      res.statusCode = 204;
      res.end();
    } else {
      send(res, 200, 'text/xml; charset=utf-8', reply.twiml);
    }
    return route.path;
  }

  return function twilioWebhook(req, res) {
    const started = process.hrtime.bigint();
    const id = requestId(req.headers['x-request-id']);
    let child: Logger | undefined;
    const log = () => (child ??= logger.child({ reqId: id }));
    res.setHeader('X-Request-Id', id);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const finish = (route: string | undefined) => {
      countRequest(metrics, { route: route ?? 'unmatched', method: req.method ?? '', status: String(res.statusCode) }, started);
      if (logger.isLevelEnabled('info')) logRequestEnd(log(), req.method, path, res.statusCode, started);
    };
    serve(req, res, log, path, q === -1 ? undefined : url.slice(q + 1)).then(finish, (err: unknown) => {
      const reply = errorReply(err, log(), { method: req.method, path });
      if (res.headersSent) res.end();
      else {
        for (const [k, v] of Object.entries(reply.headers)) res.setHeader(k, v);
        send(res, reply.status, 'application/json; charset=utf-8', JSON.stringify(reply.body));
      }
      finish(reply.status === 404 ? undefined : routes.get(routeKey(path))?.path);
    }).catch((err: unknown) => {
      // Only a bug in the lines above gets here: log it, and never leave the client hanging.
      logger.error({ err, path }, 'twilio webhook failed while answering');
      if (!res.writableEnded) res.destroy();
    });
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
