import request from 'supertest';
import { describeEachBackend } from '../helpers/backends';
import { applyEvent, operatorApi } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildVoiceForm, newSiprecSid } from '../helpers/twilio-requests';

const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const ROUTES = {
  routes: [
    { to: ['+15550001111'], siprec: [{ connectorName: 'Gridspace_1', name: 'gridspace' }, { connectorName: 'Compliance_SRS', name: 'compliance' }], then: { dial: '+15551230000' } },
    { to: ['+15550002222'], siprec: [{ connectorName: 'GridspaceX1', name: 'gx' }], then: { dial: '+15551230000' } },
    { siprec: [{ connectorName: 'Gridspace_1' }], then: { dial: '+15551230000' } },
  ],
};
type Listed = { callSid: string; name: string; connectorName: string | null; from: string | null; to: string | null };

describeEachBackend('GET /api/sessions search, and GET /api/overview', (backend) => {
  let t: TestApp;
  let now: number;
  let api: ReturnType<typeof operatorApi>;
  // A at T0 (2 sessions, from +14155550100), B at T0+60 s (1, to +15550002222), C at T0+120 s (1, default route).
  let A: string;
  let B: string;
  let C: string;

  async function answer(at: number, from: string, to: string): Promise<string> {
    now = at;
    const form = buildVoiceForm({ From: from, To: to });
    await t.postTwilio('/twilio/voice', form).expect(200);
    return form.CallSid!;
  }
  async function seed(app: TestApp) {
    t = app;
    api = operatorApi(t);
    A = await answer(T0, '+14155550100', '+15550001111');
    B = await answer(T0 + 60_000, '+442071838750', '+15550002222');
    C = await answer(T0 + 120_000, '+442071838750', '+15559990000');
  }
  const list = async (query: string) => (await api.get(`/api/sessions?${query}`).expect(200)).body as { sessions: Listed[]; nextCursor: string | null; total?: number };
  const keys = async (query: string) => (await list(query)).sessions.map((s) => `${s.callSid === A ? 'A' : s.callSid === B ? 'B' : s.callSid === C ? 'C' : '?'}/${s.name}`);

  afterEach(async () => t?.close());

  describe('with numbers stored in full', () => {
    beforeEach(async () => seed(await createTestApp({ backend, routes: ROUTES, clock: () => now })));

    it('finds the calls from or to a number, written in any common way', async () => {
      expect(await keys('phone=%2B14155550100')).toEqual(['A/compliance', 'A/gridspace']);
      expect(await keys(`phone=${encodeURIComponent('+1 415-555-0100')}`)).toEqual(['A/compliance', 'A/gridspace']);
      expect(await keys('phone=%2B15550002222')).toEqual(['B/gx']);
      expect(await keys('phone=%2B442071838750')).toEqual(['C/Gridspace_1', 'B/gx']);
      expect(await keys('phone=%2B19999999999')).toEqual([]);
    });

    it('matches a connector by prefix in any case, with _ and % taken literally', async () => {
      expect(await keys('connectorPrefix=gRiD')).toEqual(['C/Gridspace_1', 'B/gx', 'A/gridspace']);
      expect(await keys('connectorPrefix=Gridspace_')).toEqual(['C/Gridspace_1', 'A/gridspace']);
      expect(await keys('connectorPrefix=Grid%25')).toEqual([]);
      // connectorName stays an exact match.
      expect(await keys('connectorName=gridspace_1')).toEqual([]);
    });

    it('takes a time range on when the session was first recorded: since inclusive, until exclusive', async () => {
      expect(await keys(`since=${iso(T0 + 60_000)}`)).toEqual(['C/Gridspace_1', 'B/gx']);
      expect(await keys(`until=${iso(T0 + 60_000)}`)).toEqual(['A/compliance', 'A/gridspace']);
      expect(await keys(`since=${encodeURIComponent('2025-03-01T13:00:30+01:00')}&until=${iso(T0 + 120_000)}`)).toEqual(['B/gx']);
    });

    it('finds a session by its SIPREC SID', async () => {
      const sid = newSiprecSid();
      await applyEvent(t, { callSid: B, siprecName: 'gx', siprecSid: sid, receivedAt: T0 + 61_000 });
      expect(await keys(`siprecSid=${sid}`)).toEqual(['B/gx']);
    });

    it('counts every match across pages when asked, and only then', async () => {
      const page = await list('limit=1&withTotal=true');
      expect(page.sessions).toHaveLength(1);
      expect(page.total).toBe(4);
      expect((await list('state=requested&withTotal=true')).total).toBe(4);
      expect((await list('connectorPrefix=grid&limit=1&withTotal=true')).total).toBe(3);
      const second = await list(`connectorPrefix=grid&limit=1&withTotal=true&cursor=${encodeURIComponent(page.nextCursor!)}`);
      expect(second.total).toBe(3);
      expect((await list('phone=%2B15550002222&withTotal=true')).total).toBe(1);
      expect(await list('limit=1')).not.toHaveProperty('total');
    });

    it.each([
      ['since=yesterday', 'since'],
      ['until=2025-03-01T12:00:00', 'until'],
      [`since=${iso(T0 + 1000)}&until=${iso(T0)}`, 'until'],
      ['withTotal=yes', 'withTotal'],
      ['siprecSid=CA0123456789abcdef0123456789abcdef', 'siprecSid'],
      ['phone=', 'phone'],
      [`connectorPrefix=${'x'.repeat(129)}`, 'connectorPrefix'],
    ])('refuses %s with 400 naming %s', async (query, field) => {
      const res = await api.get(`/api/sessions?${query}`).expect(400);
      expect(res.body.details.map((d: { path: string }) => d.path)).toContain(field);
    });

    describe('GET /api/overview', () => {
      it('needs the admin token', async () => {
        await request(t.app).get('/api/overview').expect(401);
      });

      it('counts sessions still requested after the start timeout, oldest first', async () => {
        now = T0 + 60_000 + 30_000;
        const { body } = await api.get('/api/overview').expect(200);
        // A's two sessions have waited 90 s, B's 30 s (not more than the 30 s timeout), C's none.
        expect(body.stuckRequested).toEqual({ count: 2, olderThanSeconds: 30, oldest: { callSid: A, name: 'gridspace', connectorName: 'Gridspace_1', requestedAt: iso(T0) } });
        expect(body.search).toEqual({ phone: 'full' });
      });

      it('summarises each connector: open sessions, failures in the last hour, the last error in the last day', async () => {
        now = T0 + 2 * 3_600_000;
        const sid = newSiprecSid();
        await applyEvent(t, { callSid: A, siprecName: 'compliance', siprecSid: sid, event: 'siprec-error', receivedAt: T0 + 10 * 60_000, errorCode: '64101', errorMessage: 'older' });
        await applyEvent(t, { callSid: A, siprecName: 'gridspace', event: 'siprec-started', receivedAt: now - 5 * 60_000 });
        await applyEvent(t, { callSid: C, siprecName: 'Gridspace_1', event: 'siprec-error', receivedAt: now - 2 * 60_000, errorCode: '64102', errorMessage: 'newer' });
        await applyEvent(t, { callSid: B, siprecName: 'gx', event: 'siprec-error', receivedAt: now - 30 * 3_600_000, errorCode: '64103', errorMessage: 'two days ago' });
        const { body } = await api.get('/api/overview').expect(200);
        // GridspaceX1 is left out: its one session failed more than a day ago, and none is open.
        expect(body.connectors).toEqual([
          { connectorName: 'Compliance_SRS', open: 0, failedLastHour: 0, lastError: { callSid: A, name: 'compliance', errorCode: '64101', errorMessage: 'older', at: iso(T0 + 10 * 60_000) } },
          { connectorName: 'Gridspace_1', open: 1, failedLastHour: 1, lastError: { callSid: C, name: 'Gridspace_1', errorCode: '64102', errorMessage: 'newer', at: iso(now - 2 * 60_000) } },
        ]);
      });
    });
  });

  describe('with STORE_CALLER_NUMBERS=masked', () => {
    beforeEach(async () => seed(await createTestApp({ backend, routes: ROUTES, clock: () => now, env: { STORE_CALLER_NUMBERS: 'masked' } })));

    it('matches what is stored: a full number by its mask, or the mask itself', async () => {
      const [first] = (await list('limit=1')).sessions;
      expect(first!.from).toBe('+44********50');
      // +1********00 is all the ledger kept: C's To (+15559990000) has the same mask as A's From.
      expect(await keys('phone=%2B14155550100')).toEqual(['C/Gridspace_1', 'A/compliance', 'A/gridspace']);
      expect(await keys(`phone=${encodeURIComponent('+44********50')}`)).toEqual(['C/Gridspace_1', 'B/gx']);
      expect((await api.get('/api/overview').expect(200)).body.search).toEqual({ phone: 'masked' });
    });
  });

  describe('with STORE_CALLER_NUMBERS=none', () => {
    beforeEach(async () => seed(await createTestApp({ backend, routes: ROUTES, clock: () => now, env: { STORE_CALLER_NUMBERS: 'none' } })));

    it('says a search by number is unavailable, rather than finding nothing', async () => {
      const res = await api.get('/api/sessions?phone=%2B14155550100').expect(400);
      expect(res.body.error).toBe('search by phone number is unavailable: STORE_CALLER_NUMBERS=none stores no numbers');
      expect((await api.get('/api/overview').expect(200)).body.search).toEqual({ phone: 'none' });
    });
  });
});
