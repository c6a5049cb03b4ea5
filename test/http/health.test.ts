import request from 'supertest';
import { describeEachBackend } from '../helpers/backends';
import { createTestApp, FAST_FAILING_WRITES_MS, type TestApp } from '../helpers/test-app';

describeEachBackend('health endpoints', (backend) => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp({ backend, writeTimeoutMs: FAST_FAILING_WRITES_MS[backend] })));
  afterEach(async () => t.close());

  it('GET /healthz → 200 {"status":"ok"} with helmet headers', async () => {
    const res = await request(t.app).get('/healthz').expect(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('GET /readyz → 200 when the database takes writes, 503 when it cannot', async () => {
    await request(t.app).get('/readyz').expect(200);
    const release = await t.holdWrites();
    try {
      const res = await request(t.app).get('/readyz').expect(503);
      expect(res.body).toEqual({ error: 'database is not available' });
    } finally {
      await release();
    }
    await request(t.app).get('/readyz').expect(200);
  });

  it('answers unknown paths with the JSON error shape', async () => {
    const res = await request(t.app).get('/nope').expect(404);
    expect(res.body).toEqual({ error: 'no route for GET /nope' });
  });
});
