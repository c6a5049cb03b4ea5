import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { InvalidCursorError, StoreUnavailableError } from '../store/store';

export interface ErrorBody {
  error: string;
  details?: unknown[];
}

/** An error whose message is safe to show the client. */
export class HttpError extends Error {
  readonly details?: unknown[];
  readonly headers?: Record<string, string>;
  constructor(
    readonly status: number,
    message: string,
    options: { cause?: unknown; details?: unknown[]; headers?: Record<string, string> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'HttpError';
    this.details = options.details;
    this.headers = options.headers;
  }
}

/** What a client is told while the ledger cannot answer; the cause is logged. */
export const LEDGER_UNAVAILABLE = 'the ledger is unavailable; try again shortly';
/** Twilio retries a 503 callback; one second keeps its retries quick while the ledger recovers. */
export const LEDGER_RETRY_AFTER = { 'Retry-After': '1' };

export const notFound: RequestHandler = function notFound(req, _res, next) {
  next(new HttpError(404, `no route for ${req.method} ${req.path}`));
};

/**
 * Express's body parsers throw http-errors: a 4xx `status`, `expose: true`, and usually a `type`
 * (entity.too.large); a broken gzip body comes through from zlib with the status but no type.
 */
function parserStatus(err: unknown): number | undefined {
  const e = err as { status?: unknown; type?: unknown; expose?: unknown };
  const clientError = typeof e?.status === 'number' && e.status >= 400 && e.status < 500;
  return clientError && (typeof e.type === 'string' || e.expose === true) ? (e.status as number) : undefined;
}

const PARSER_MESSAGES: Record<string, string> = {
  'entity.too.large': 'request body is too large',
  'parameters.too.many': 'request has too many parameters',
  'encoding.unsupported': 'request body charset is not supported',
  'charset.unsupported': 'request body charset is not supported',
  'entity.parse.failed': 'request body is malformed',
  'request.aborted': 'request was aborted',
  'entity.verify.failed': 'request body could not be verified',
};

export interface ErrorReply {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

/**
 * One JSON error shape, for Express and the Twilio webhook edge alike: 4xx bodies say what was wrong,
 * 5xx bodies are generic and the cause is logged.
 */
export function errorReply(err: unknown, log: Logger, request: { method?: string; path: string }): ErrorReply {
  let status = 500;
  let body: ErrorBody = { error: 'internal error' };
  let headers: Record<string, string> = {};
  if (err instanceof HttpError) {
    status = err.status;
    body = err.details ? { error: err.message, details: err.details } : { error: err.message };
    headers = err.headers ?? {};
  } else if (err instanceof StoreUnavailableError) {
    // Whichever backend it is and whichever route asked: nothing was acknowledged, so ask again.
    status = 503;
    body = { error: LEDGER_UNAVAILABLE };
    headers = { ...LEDGER_RETRY_AFTER };
  } else if (err instanceof InvalidCursorError) {
    status = 400;
    body = { error: err.message };
  } else if (err instanceof URIError && (err as { status?: unknown }).status === 400) {
    // The router could not decode a route parameter (`/api/calls/%E0%A4%A`): the client's mistake.
    status = 400;
    body = { error: 'request path has a malformed percent-escape' };
  } else {
    const parsed = parserStatus(err);
    if (parsed !== undefined) {
      status = parsed === 400 && (err as { type?: string }).type === 'parameters.too.many' ? 413 : parsed;
      body = { error: PARSER_MESSAGES[String((err as { type?: unknown }).type)] ?? 'request body could not be read' };
    }
  }
  const { method, path } = request;
  if (status >= 500) log.error({ err, method, path }, 'request failed');
  else log.info({ status, method, path, reason: body.error }, 'request refused');
  return { status, body, headers };
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return function handleError(err, req, res, _next) {
    const reply = errorReply(err, (req as { log?: Logger }).log ?? logger, req);
    if (res.headersSent) return void res.end();
    for (const [k, v] of Object.entries(reply.headers)) res.setHeader(k, v);
    res.status(reply.status).json(reply.body);
  };
}
