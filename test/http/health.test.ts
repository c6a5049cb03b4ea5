import Database from 'better-sqlite3';
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app';

describe('health endpoints', () => {
  let t: TestApp;
  beforeEach(() => (t = createTestApp({ db: { busyTimeoutMs: 20 } })));
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
    const locker = new Database(t.config.databasePath);
    locker.exec('BEGIN IMMEDIATE');
    const res = await request(t.app).get('/readyz').expect(503);
    expect(res.body).toEqual({ error: 'database is not available' });
    locker.exec('ROLLBACK');
    locker.close();
    await request(t.app).get('/readyz').expect(200);
  });

  it('answers unknown paths with the JSON error shape', async () => {
    const res = await request(t.app).get('/nope').expect(404);
    expect(res.body).toEqual({ error: 'no route for GET /nope' });
  });
});
