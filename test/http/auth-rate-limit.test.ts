import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TEST_ADMIN_TOKEN } from '../helpers/env';
import { createTestApp, type TestApp } from '../helpers/test-app';

/** A real request from a chosen loopback source address, so the limiter sees distinct clients. */
function get(port: number, path: string, from: string, token: string): Promise<{ status: number; body: string; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, localAddress: from, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('admin auth under repeated failures', () => {
  let t: TestApp;
  let server: http.Server;
  let port: number;
  beforeEach(async () => {
    t = createTestApp();
    server = http.createServer(t.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
    await t.close();
  });

  it('refuses an address with 429 after 10 failures, while the right token from elsewhere still works', async () => {
    for (let i = 0; i < 10; i++) expect((await get(port, '/api/stats', '127.0.0.7', 'wrong-token-guess')).status).toBe(401);
    const refused = await get(port, '/api/stats', '127.0.0.7', 'wrong-token-guess');
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toEqual({ error: 'too many failed attempts from this address; try again later' });
    expect(refused.retryAfter).toBe('60');
    // The right token is never refused: not from another address, nor from one shared with a guesser.
    expect((await get(port, '/api/stats', '127.0.0.8', TEST_ADMIN_TOKEN)).status).toBe(200);
    expect((await get(port, '/api/stats', '127.0.0.7', TEST_ADMIN_TOKEN)).status).toBe(200);
    expect((await get(port, '/api/stats', '127.0.0.7', 'another-guess-xxxxxxxxxxxx')).status).toBe(429);
  });

  it('never counts a burst of parallel requests with the right token (a page load)', async () => {
    const statuses = await Promise.all(Array.from({ length: 30 }, () => get(port, '/api/stats', '127.0.0.10', TEST_ADMIN_TOKEN)));
    expect(statuses.map((s) => s.status)).toEqual(Array(30).fill(200));
  });

  it('does not count an authenticated operator’s 404s as failures', async () => {
    for (let i = 0; i < 15; i++) expect((await get(port, '/api/calls/CA00000000000000000000000000000000', '127.0.0.9', TEST_ADMIN_TOKEN)).status).toBe(404);
    expect((await get(port, '/api/stats', '127.0.0.9', TEST_ADMIN_TOKEN)).status).toBe(200);
  });
});
