import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TEST_ADMIN_TOKEN } from '../helpers/env';
import { basicAuth } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';

const CHALLENGE = 'Basic realm="siprec-control", charset="UTF-8"';
const WRONG = 'Bearer wrong-token-guess';
const RIGHT = `Bearer ${TEST_ADMIN_TOKEN}`;

interface Reply {
  status: number;
  body: string;
  retryAfter?: string;
  challenge?: string;
}

/** A real request from a chosen loopback source address, so the limiter sees distinct clients. */
function get(port: number, path: string, from: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, localAddress: from, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body,
          retryAfter: res.headers['retry-after'],
          challenge: res.headers['www-authenticate'],
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('admin auth under repeated failures', () => {
  let t: TestApp | undefined;
  let server: http.Server | undefined;
  let port: number;

  async function listen(env: Record<string, string> = {}) {
    t = await createTestApp({ env });
    server = http.createServer(t.app).listen(0, '127.0.0.1');
    await new Promise((r) => server!.once('listening', r));
    port = (server.address() as AddressInfo).port;
  }
  afterEach(async () => {
    if (server) await new Promise((r) => server!.close(r));
    await t?.close();
    server = undefined;
    t = undefined;
  });

  describe('with TRUST_PROXY off (the default)', () => {
    beforeEach(() => listen());

    it('refuses an address with 429 after 10 failures, while the right token from elsewhere still works', async () => {
      for (let i = 0; i < 10; i++) expect((await get(port, '/api/stats', '127.0.0.7', { authorization: WRONG })).status).toBe(401);
      const refused = await get(port, '/api/stats', '127.0.0.7', { authorization: WRONG });
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body)).toEqual({ error: 'too many failed attempts from this address; try again later' });
      expect(refused.retryAfter).toBe('60');
      // The right token is never refused: not from another address, nor from one shared with a guesser.
      expect((await get(port, '/api/stats', '127.0.0.8', { authorization: RIGHT })).status).toBe(200);
      expect((await get(port, '/api/stats', '127.0.0.7', { authorization: RIGHT })).status).toBe(200);
      expect((await get(port, '/api/stats', '127.0.0.7', { authorization: 'Bearer another-guess-xxxxxxxxxxxx' })).status).toBe(429);
    });

    it('never counts a burst of parallel requests with the right token (a page load)', async () => {
      const statuses = await Promise.all(Array.from({ length: 30 }, () => get(port, '/api/stats', '127.0.0.10', { authorization: RIGHT })));
      expect(statuses.map((s) => s.status)).toEqual(Array(30).fill(200));
    });

    it('does not count an authenticated operator’s 404s as failures', async () => {
      for (let i = 0; i < 15; i++) {
        expect((await get(port, '/api/calls/CA00000000000000000000000000000000', '127.0.0.9', { authorization: RIGHT })).status).toBe(404);
      }
      expect((await get(port, '/api/stats', '127.0.0.9', { authorization: RIGHT })).status).toBe(200);
    });

    it('never counts a request without credentials: twelve first visits in a minute all get the prompt, then sign in', async () => {
      const basic = { authorization: basicAuth('ops', TEST_ADMIN_TOKEN) };
      for (let visit = 0; visit < 12; visit++) {
        // A browser's first request carries nothing; the 401's challenge makes it ask, then it retries.
        const prompt = await get(port, '/', '127.0.0.11');
        expect([prompt.status, prompt.challenge]).toEqual([401, CHALLENGE]);
        expect((await get(port, '/', '127.0.0.11', basic)).status).toBe(200);
        expect((await get(port, '/app.js', '127.0.0.11', basic)).status).toBe(200);
      }
      // Nothing so far counted: nine wrong passwords still get 401, the tenth too, the eleventh 429.
      for (let i = 0; i < 10; i++) expect((await get(port, '/api/stats', '127.0.0.11', { authorization: WRONG })).status).toBe(401);
      expect((await get(port, '/api/stats', '127.0.0.11', { authorization: WRONG })).status).toBe(429);
      // And a browser without credentials is still asked, so its operator can type the right token.
      expect((await get(port, '/', '127.0.0.11')).challenge).toBe(CHALLENGE);
    });

    it.each(['/', '/app.js', '/api/stats', '/metrics'])('answers 429 on %s with the Basic challenge and Retry-After', async (path) => {
      for (let i = 0; i < 10; i++) await get(port, '/api/stats', '127.0.0.12', { authorization: WRONG });
      const refused = await get(port, path, '127.0.0.12', { authorization: basicAuth('ops', 'a-wrong-password-0123456789') });
      expect(refused.status).toBe(429);
      expect(refused.challenge).toBe(CHALLENGE);
      expect(refused.retryAfter).toBe('60');
    });

    it('ignores X-Forwarded-For: a guesser cannot pick a fresh address, and one header does not lock others out', async () => {
      for (let i = 0; i < 10; i++) {
        expect((await get(port, '/api/stats', '127.0.0.13', { authorization: WRONG, 'x-forwarded-for': `198.51.100.${i}` })).status).toBe(401);
      }
      expect((await get(port, '/api/stats', '127.0.0.13', { authorization: WRONG, 'x-forwarded-for': '198.51.100.99' })).status).toBe(429);
      // Claiming another client's address does not spend that client's budget.
      expect((await get(port, '/api/stats', '127.0.0.14', { authorization: WRONG, 'x-forwarded-for': '127.0.0.13' })).status).toBe(401);
    });
  });

  describe.each([
    ['1', 'a hop count'],
    ['loopback', 'a named range'],
    ['127.0.0.0/8', 'a CIDR'],
  ])('with TRUST_PROXY=%s (%s): the proxy in front is 127.0.0.x', (trustProxy) => {
    beforeEach(() => listen({ TRUST_PROXY: trustProxy }));
    const via = (client: string, authorization?: string) => ({ 'x-forwarded-for': client, ...(authorization ? { authorization } : {}) });

    it('keys each client behind the proxy on its own address, so one guesser locks out only itself', async () => {
      for (let i = 0; i < 10; i++) expect((await get(port, '/api/stats', '127.0.0.20', via('203.0.113.5', WRONG))).status).toBe(401);
      const refused = await get(port, '/', '127.0.0.20', via('203.0.113.5', WRONG));
      expect([refused.status, refused.challenge]).toEqual([429, CHALLENGE]);
      // Same proxy socket, other clients: their sign-in works, and so do their own mistakes' 401s.
      expect((await get(port, '/', '127.0.0.20', via('203.0.113.6'))).status).toBe(401);
      expect((await get(port, '/api/stats', '127.0.0.20', via('203.0.113.6', WRONG))).status).toBe(401);
      expect((await get(port, '/api/stats', '127.0.0.20', via('203.0.113.7', RIGHT))).status).toBe(200);
    });

    it('keys on the address the proxy appended, not one the client put in front of it', async () => {
      for (let i = 0; i < 10; i++) {
        expect((await get(port, '/api/stats', '127.0.0.21', via(`198.51.100.${i}, 203.0.113.8`, WRONG))).status).toBe(401);
      }
      expect((await get(port, '/api/stats', '127.0.0.21', via('198.51.100.200, 203.0.113.8', WRONG))).status).toBe(429);
    });
  });

  describe("with TRUST_PROXY set to the proxy's own address", () => {
    beforeEach(() => listen({ TRUST_PROXY: '127.0.0.40' }));

    it('keys a client that reaches the port directly on its socket address, whatever X-Forwarded-For it sends', async () => {
      for (let i = 0; i < 10; i++) {
        expect((await get(port, '/api/stats', '127.0.0.41', { authorization: WRONG, 'x-forwarded-for': `198.51.100.${i}` })).status).toBe(401);
      }
      expect((await get(port, '/api/stats', '127.0.0.41', { authorization: WRONG, 'x-forwarded-for': '198.51.100.99' })).status).toBe(429);
      // Through the proxy, the address it appended still decides.
      expect((await get(port, '/api/stats', '127.0.0.40', { authorization: WRONG, 'x-forwarded-for': '127.0.0.41' })).status).toBe(429);
      expect((await get(port, '/api/stats', '127.0.0.40', { authorization: WRONG, 'x-forwarded-for': '203.0.113.9' })).status).toBe(401);
    });
  });
});
