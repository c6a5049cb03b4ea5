import { createServer, type Server } from 'node:http';
import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { adminAuth } from '../../src/http/admin-auth';
import { errorHandler } from '../../src/http/errors';
import { TEST_ADMIN_TOKEN } from '../helpers/env';

const CHALLENGE = 'Basic realm="siprec-control", charset="UTF-8"';
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;

/** A protected handler that counts its runs, behind the real middleware and error handler. */
function protectedServer(): { server: Server; runs: () => number } {
  let runs = 0;
  const app = express();
  app.get('/protected', adminAuth({ token: TEST_ADMIN_TOKEN }), function secret(_req, res) {
    runs++;
    res.json({ ok: true });
  });
  app.use(errorHandler(pino({ level: 'silent' })));
  // Node refuses headers over 16 KB with 431 before any middleware runs; raise it so a 100 KB
  // credential actually reaches adminAuth.
  const server = createServer({ maxHeaderSize: 512 * 1024 }, app);
  return { server, runs: () => runs };
}

describe('adminAuth', () => {
  let server: Server;
  let runs: () => number;
  beforeEach(() => ({ server, runs } = protectedServer()));

  const get = (authorization?: string) => {
    const req = request(server).get('/protected');
    return authorization === undefined ? req : req.set('Authorization', authorization);
  };

  describe('with the right token', () => {
    it('lets Bearer through', async () => {
      await get(`Bearer ${TEST_ADMIN_TOKEN}`).expect(200, { ok: true });
      expect(runs()).toBe(1);
    });

    it('accepts the scheme in any case (bearer, BASIC)', async () => {
      await get(`bearer ${TEST_ADMIN_TOKEN}`).expect(200);
      await get(`BASIC ${Buffer.from(`x:${TEST_ADMIN_TOKEN}`).toString('base64')}`).expect(200);
      expect(runs()).toBe(2);
    });

    it('lets Basic through with any user name, including an empty one', async () => {
      await get(basic('admin', TEST_ADMIN_TOKEN)).expect(200);
      await get(basic('', TEST_ADMIN_TOKEN)).expect(200);
      await get(basic('ops team', TEST_ADMIN_TOKEN)).expect(200);
      expect(runs()).toBe(3);
    });
  });

  const refused: Array<[string, () => string | undefined, RegExp]> = [
    ['no Authorization header', () => undefined, /authentication required/],
    ['an empty header', () => '', /authentication required/],
    ['a wrong Bearer token', () => 'Bearer not-the-admin-token-0123456789abc', /invalid credentials/],
    ['a token that is a prefix of the right one', () => `Bearer ${TEST_ADMIN_TOKEN.slice(0, -1)}`, /invalid credentials/],
    ['a short token', () => 'Bearer x', /invalid credentials/],
    ['the right token with a suffix', () => `Bearer ${TEST_ADMIN_TOKEN}x`, /invalid credentials/],
    ['Bearer with nothing after it', () => 'Bearer ', /malformed/],
    ['Bearer alone', () => 'Bearer', /malformed/],
    ['Basic with the wrong password', () => basic('admin', 'wrong-password-0123456789abcdef'), /invalid credentials/],
    ['Basic with the token as user name', () => basic(TEST_ADMIN_TOKEN, ''), /invalid credentials/],
    ['Basic without a colon', () => `Basic ${Buffer.from(TEST_ADMIN_TOKEN).toString('base64')}`, /malformed Basic/],
    ['Basic with malformed base64', () => 'Basic %%%not*base64%%%', /malformed Basic/],
    ['Basic with truncated base64', () => `Basic ${Buffer.from(`a:${TEST_ADMIN_TOKEN}`).toString('base64').slice(0, -1)}`, /malformed Basic/],
    ['another scheme', () => `Digest ${TEST_ADMIN_TOKEN}`, /unsupported/],
    ['the raw token without a scheme', () => TEST_ADMIN_TOKEN, /malformed/],
    ['non-ASCII (Latin-1) credentials', () => 'Bearer t\u00f6k\u00e9n-\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9', /invalid credentials/],
    ['Basic with a UTF-8 password', () => basic('admin', 'pässwörd-\u4e2d\u6587-0123456789'), /invalid credentials/],
    ['a 100 KB Bearer token', () => `Bearer ${'a'.repeat(100 * 1024)}`, /invalid credentials/],
    ['a 100 KB Basic credential', () => basic('admin', 'b'.repeat(100 * 1024)), /invalid credentials/],
  ];

  describe.each(refused)('with %s', (_what, header, message) => {
    it('responds 401 with the Basic challenge and a JSON error, and the handler never runs', async () => {
      const res = await get(header()).expect(401);
      expect(res.headers['www-authenticate']).toBe(CHALLENGE);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual({ error: expect.stringMatching(message) });
      expect(runs()).toBe(0);
    });
  });

  describe('at construction', () => {
    it('refuses a token shorter than 24 characters', () => {
      expect(() => adminAuth({ token: 'x'.repeat(23) })).toThrow(/at least 24/);
      expect(() => adminAuth({ token: '' })).toThrow(/at least 24/);
    });

    it('refuses a realm that would break the header', () => {
      expect(() => adminAuth({ token: TEST_ADMIN_TOKEN, realm: 'a"b' })).toThrow(/realm/);
    });

    it('uses a custom realm in the challenge', async () => {
      const app = express();
      app.get('/p', adminAuth({ token: TEST_ADMIN_TOKEN, realm: 'ops' }), (_req, res) => void res.end());
      app.use(errorHandler(pino({ level: 'silent' })));
      const res = await request(app).get('/p').expect(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="ops", charset="UTF-8"');
    });
  });
});
