import express, { type RequestHandler } from 'express';
import { HttpError } from './errors';

/** Twilio posts forms of a few kilobytes; anything far larger is not Twilio. */
export const FORM_LIMIT_BYTES = 64 * 1024;
export const FORM_PARAMETER_LIMIT = 200;

/** Refuses a POST body that is not a form with 415, before it is read. */
export const requireForm: RequestHandler = function requireForm(req, _res, next) {
  const hasBody = req.get('content-length') !== undefined ? req.get('content-length') !== '0' : req.get('transfer-encoding') !== undefined;
  if (req.method === 'POST' && hasBody && !req.is('application/x-www-form-urlencoded')) {
    throw new HttpError(415, 'request body must be application/x-www-form-urlencoded');
  }
  next();
};

export const parseForm: RequestHandler = express.urlencoded({
  extended: false,
  limit: FORM_LIMIT_BYTES,
  parameterLimit: FORM_PARAMETER_LIMIT,
});
