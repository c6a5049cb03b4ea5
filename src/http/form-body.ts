import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import typeis from 'type-is';
import { HttpError } from './errors';

/** Twilio posts forms of a few kilobytes; anything far larger is not Twilio. */
export const FORM_LIMIT_BYTES = 64 * 1024;
export const FORM_PARAMETER_LIMIT = 200;

const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Refuses a POST body that is not a form with 415, before it is read. */
export function requireForm(req: IncomingMessage): void {
  const length = req.headers['content-length'];
  const hasBody = length !== undefined ? length !== '0' : req.headers['transfer-encoding'] !== undefined;
  if (req.method === 'POST' && hasBody && !typeis.is(req.headers['content-type'] ?? '', [FORM_TYPE])) {
    throw new HttpError(415, `request body must be ${FORM_TYPE}`);
  }
}

// body-parser is framework-free: it reads any IncomingMessage, with its limits, charsets and
// Content-Encoding handling, and leaves the form on req.body.
const urlencoded = express.urlencoded({
  extended: false,
  limit: FORM_LIMIT_BYTES,
  parameterLimit: FORM_PARAMETER_LIMIT,
});

/** Reads the form body; an empty or absent body is an empty form. Rejects with body-parser's 4xx errors. */
export function readForm(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    // body-parser calls back with an http-errors Error (413, 415, 400) or nothing.
    urlencoded(req, res, (err?: Error) => {
      if (err) return reject(err);
      const body = (req as { body?: unknown }).body;
      resolve(body && typeof body === 'object' ? (body as Record<string, unknown>) : {});
    });
  });
}
