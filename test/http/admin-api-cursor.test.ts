import request from 'supertest';
import { describeEachBackend } from '../helpers/backends';
import { BEARER, operatorApi } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildVoiceForm } from '../helpers/twilio-requests';

const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const INVALID = { error: 'cursor is not valid: pass the nextCursor of a previous page' };
const OTHER_ADMIN_TOKEN = 'another-deployments-admin-token-0123';

describeEachBackend('GET /api/sessions cursors', (backend) => {
  let t: TestApp;
  let now: number;
  let callSids: string[];

  /** Three calls on the default route, one session each, a second apart; newest first. */
  async function seed(app: TestApp): Promise<string[]> {
    const sids: string[] = [];
    for (let i = 0; i < 3; i++) {
      now = T0 + i * 1000;
      const form = buildVoiceForm({ To: '+15559990000' });
      await app.postTwilio('/twilio/voice', form).expect(200);
      sids.unshift(form.CallSid!);
    }
    return sids;
  }
  const page = (app: TestApp, cursor?: string) => {
    const q = cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    return request(app.app).get(`/api/sessions?limit=1${q}`).set('Authorization', BEARER);
  };
  const callsOf = (body: { sessions: Array<{ callSid: string }> }) => body.sessions.map((s) => s.callSid);

  beforeEach(async () => {
    now = T0;
    t = await createTestApp({ backend, clock: () => now });
    callSids = await seed(t);
  });
  afterEach(async () => t.close());

  it('pages through with the cursors it issues', async () => {
    const p1 = (await page(t).expect(200)).body;
    const p2 = (await page(t, p1.nextCursor).expect(200)).body;
    const p3 = (await page(t, p2.nextCursor).expect(200)).body;
    expect([...callsOf(p1), ...callsOf(p2), ...callsOf(p3)]).toEqual(callSids);
    expect(p3.nextCursor).toBeNull();
  });

  describe('a cursor the API did not issue', () => {
    it.each([
      ['base64 of "1.1"', 'MS4x'],
      ['junk before base64', '!!!MS4x'],
      ['an unsigned position of a real row', Buffer.from(`${T0 + 1000}.2`).toString('base64url')],
      ['a dot alone', '.'],
    ])('%s → 400 with the cursor message', async (_what, cursor) => {
      expect((await page(t, cursor).expect(400)).body).toEqual(INVALID);
    });

    it('an issued cursor with any one character changed, cut short or extended → 400', async () => {
      const good: string = (await page(t).expect(200)).body.nextCursor;
      const alphabet = 'AZaz09-_.';
      const variants = new Set<string>([good.slice(0, -1), `${good}A`, good.slice(1)]);
      for (let i = 0; i < good.length; i++) {
        const swap = alphabet[(alphabet.indexOf(good[i]!) + 1) % alphabet.length] ?? 'A';
        variants.add(good.slice(0, i) + (swap === good[i] ? 'B' : swap) + good.slice(i + 1));
      }
      variants.delete(good);
      for (const v of variants) expect({ v, status: (await page(t, v)).status }).toEqual({ v, status: 400 });
    });

    it('issued by a deployment with another ADMIN_TOKEN → 400', async () => {
      const other = await createTestApp({ backend, clock: () => now, env: { ADMIN_TOKEN: OTHER_ADMIN_TOKEN } });
      try {
        await seed(other);
        const res = await request(other.app).get('/api/sessions?limit=1').set('Authorization', `Bearer ${OTHER_ADMIN_TOKEN}`).expect(200);
        expect(res.body.nextCursor).toEqual(expect.any(String));
        expect((await page(t, res.body.nextCursor).expect(400)).body).toEqual(INVALID);
      } finally {
        await other.close();
      }
    });
  });

  describe('after a restart, or on another instance sharing the database and configuration', () => {
    it('page 2 opens with the cursor page 1 gave', async () => {
      const p1 = (await page(t).expect(200)).body;
      // A second process: its own config load, database connection, store and app.
      const second = await createTestApp({ ledgerOf: t, clock: () => now });
      try {
        expect(second.config.storage).toEqual(t.config.storage);
        expect(second.store).not.toBe(t.store);
        const p2 = (await page(second, p1.nextCursor).expect(200)).body;
        expect(callsOf(p2)).toEqual([callSids[1]]);
        // And the cursor it issues works back on the first instance.
        expect(callsOf((await page(t, p2.nextCursor).expect(200)).body)).toEqual([callSids[2]]);
      } finally {
        await second.close();
      }
    });
  });

  it('keeps its filters working with a cursor', async () => {
    const api = operatorApi(t);
    const p1 = (await api.get('/api/sessions?limit=1&connectorName=Gridspace_1').expect(200)).body;
    const p2 = (await api.get(`/api/sessions?limit=1&connectorName=Gridspace_1&cursor=${encodeURIComponent(p1.nextCursor)}`).expect(200)).body;
    expect(callsOf(p2)).toEqual([callSids[1]]);
  });
});
