import request from 'supertest';
import { BEARER } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';

/**
 * helmet's defaults assume https: `upgrade-insecure-requests` makes a browser fetch the page's own
 * files over https, and HSTS pins the host to https. Over plain http (an internal host name, no
 * TLS) the first leaves the status page blank, so neither may be sent when PUBLIC_BASE_URL is http.
 */
describe('security headers', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const PATHS: Array<[string, number, boolean]> = [
    ['/', 200, true],
    ['/app.js', 200, true],
    ['/api/stats', 200, true],
    ['/api/stats', 401, false],
    ['/healthz', 200, false],
    ['/no-such-page', 404, true],
  ];

  describe('when PUBLIC_BASE_URL is plain http on a host other than localhost', () => {
    beforeEach(async () => (t = await createTestApp({ env: { PUBLIC_BASE_URL: 'http://siprec.internal:3000' } })));

    it.each(PATHS)('GET %s (%i) sends a CSP without upgrade-insecure-requests, and no HSTS', async (path, status, withToken) => {
      const req = request(t!.app).get(path);
      const res = await (withToken ? req.set('Authorization', BEARER) : req).expect(status);
      const csp = res.headers['content-security-policy'] as string;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'self'");
      expect(csp).not.toContain('upgrade-insecure-requests');
      expect(res.headers['strict-transport-security']).toBeUndefined();
      // Ignored by browsers on an origin that is not secure, with a console error on every load.
      expect(res.headers['cross-origin-opener-policy']).toBeUndefined();
      expect(res.headers['origin-agent-cluster']).toBeUndefined();
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    });
  });

  describe('when PUBLIC_BASE_URL is https', () => {
    beforeEach(async () => (t = await createTestApp({ env: { PUBLIC_BASE_URL: 'https://calls.example.com' } })));

    it.each(PATHS)('GET %s (%i) keeps helmet\'s defaults: upgrade-insecure-requests and HSTS', async (path, status, withToken) => {
      const req = request(t!.app).get(path);
      const res = await (withToken ? req.set('Authorization', BEARER) : req).expect(status);
      expect(res.headers['content-security-policy']).toContain('upgrade-insecure-requests');
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(res.headers['origin-agent-cluster']).toBe('?1');
    });
  });
});
