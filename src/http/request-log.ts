import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

declare module 'express-serve-static-core' {
  interface Request {
    id: string;
    log: Logger;
  }
}

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is safe to log and echo, else a new one. */
export function requestId(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * The one line logged when a request ends. Only method, path (never the query or headers, which may
 * carry tokens or phone numbers), status and duration.
 */
export function logRequestEnd(log: Logger, method: string | undefined, path: string, status: number, startedNs: bigint): void {
  if (!log.isLevelEnabled('info')) return;
  const ms = Number(process.hrtime.bigint() - startedNs) / 1e6;
  log.info({ method, path, status, ms: Math.round(ms * 10) / 10 }, 'request');
}

/** Gives each request an id and a child logger, and logs one line when it ends. */
export function requestLog(logger: Logger): RequestHandler {
  return function logRequest(req, res, next) {
    req.id = requestId(req.get('x-request-id'));
    req.log = logger.child({ reqId: req.id });
    res.setHeader('X-Request-Id', req.id);
    const started = process.hrtime.bigint();
    // Routers strip their mount point from req.path as the request goes down; log what came in.
    const path = req.path;
    res.on('finish', () => logRequestEnd(req.log, req.method, path, res.statusCode, started));
    next();
  };
}
