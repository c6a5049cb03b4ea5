import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { openStore } from '../../src/store';
import { StoreUnavailableError, type Store } from '../../src/store/store';
import { describeEachBackend } from '../helpers/backends';
import { eventually } from '../helpers/eventually';
import { operatorApi } from '../helpers/operator-api';
import { createTestApp, FAST_FAILING_WRITES_MS, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm, sign } from '../helpers/twilio-requests';
import { parseXml, type XmlNode } from '../helpers/xml';
import { DEFAULT_TEST_ROUTES, TEST_PUBLIC_BASE_URL } from '../helpers/env';

describeEachBackend('POST /twilio/siprec-stop', (backend) => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp({ backend })));
  afterEach(async () => t.close());

  async function liveCall() {
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/voice', form).expect(200);
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, SiprecName: 'gridspace' })).expect(204);
    return form;
  }
  /** The call's sessions in the order they were recorded, and whether each was asked to stop. */
  const stopRequested = async (t: TestApp, callSid: string) =>
    ((await t.store.getCall(callSid))?.sessions ?? []).map((s) => [s.name, s.stopRequestedAt !== null]);

  it('stops the named session, then redirects to next', async () => {
    const form = await liveCall();
    const res = await t.postTwilio('/twilio/siprec-stop?name=gridspace&next=https%3A%2F%2Fivr.example.com%2Fafter%3Fa%3D1%26b%3D2', form).expect(200);
    const root = parseXml(res.text);
    expect(root.children.map((c) => c.name)).toEqual(['Stop', 'Redirect']);
    expect(root.children[0]!.children.map((c) => [c.name, c.attributes])).toEqual([['Siprec', { name: 'gridspace' }]]);
    expect(root.children[1]!.text).toBe('https://ivr.example.com/after?a=1&b=2');
    expect(await stopRequested(t, form.CallSid!)).toEqual([
      ['gridspace', true],
      ['compliance', false],
    ]);
  });

  it('stops every requested or active session when no name is given, then continues the call’s route', async () => {
    const form = await liveCall();
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, SiprecName: 'compliance', SiprecEvent: 'siprec-error' })).expect(204);
    const res = await t.postTwilio('/twilio/siprec-stop', form).expect(200);
    const root = parseXml(res.text);
    expect(root.children[0]!.children.map((c) => c.attributes.name)).toEqual(['gridspace']);
    expect(root.children[1]).toMatchObject({ name: 'Redirect', text: 'https://ivr.example.com/voice' });
  });

  it('answers only the continuation when every session of the call has ended', async () => {
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/voice', form).expect(200);
    const started = buildStatusCallback({ CallSid: form.CallSid!, SiprecName: 'gridspace' });
    await t.postTwilio('/twilio/siprec-status', started).expect(204);
    await t.postTwilio('/twilio/siprec-status', { ...started, SiprecEvent: 'siprec-stopped', Timestamp: new Date(Date.now() + 1000).toISOString() }).expect(204);
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, SiprecName: 'compliance', SiprecEvent: 'siprec-error' })).expect(204);
    const res = await t.postTwilio('/twilio/siprec-stop', form).expect(200);
    expect(parseXml(res.text).children.map((c) => c.name)).toEqual(['Redirect']);
  });

  it('stops the sessions of the call’s route when the ledger has none for the call', async () => {
    const form = buildVoiceForm({ To: '+15559990000' });
    const res = await t.postTwilio('/twilio/siprec-stop', form).expect(200);
    const root = parseXml(res.text);
    expect(root.children.map((c) => c.name)).toEqual(['Stop', 'Dial']);
    expect(root.children[0]!.children.map((c) => c.attributes.name)).toEqual(['Gridspace_1']);
    expect(await stopRequested(t, form.CallSid!)).toEqual([['Gridspace_1', true]]);
  });

  it('also stops a session of the route that the ledger never heard of', async () => {
    // The voice webhook's write failed; only gridspace's callback reached the ledger.
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, SiprecName: 'gridspace' })).expect(204);
    const res = await t.postTwilio('/twilio/siprec-stop', form).expect(200);
    expect(parseXml(res.text).children[0]!.children.map((c) => c.attributes.name)).toEqual(['gridspace', 'compliance']);
  });

  it('works as a GET target, reading CallSid from the signed query', async () => {
    const form = await liveCall();
    const path = `/twilio/siprec-stop?${new URLSearchParams({ ...form, name: 'gridspace' })}`;
    const res = await request(t.app).get(path).set('X-Twilio-Signature', sign(TEST_PUBLIC_BASE_URL + path, {})).expect(200);
    expect(res.text).toContain('<Stop><Siprec name="gridspace"/></Stop>');
  });

  it.each([
    ['a next that is not https', '?next=http%3A%2F%2Fivr.example.com', 'next'],
    ['a next that is relative', '?next=%2Fafter', 'next'],
    ['a bad name', '?name=a%20b', 'name'],
  ])('refuses %s with 400 and records nothing', async (_what, query, field) => {
    const form = await liveCall();
    const res = await t.postTwilio(`/twilio/siprec-stop${query}`, form).expect(400);
    expect(res.body.details.map((d: { path: string }) => d.path)).toEqual([field]);
    expect(await stopRequested(t, form.CallSid!)).toEqual([
      ['gridspace', false],
      ['compliance', false],
    ]);
  });

  it('refuses an unsigned request', async () => {
    await t.postTwilio('/twilio/siprec-stop?name=x', buildVoiceForm(), 'wrong').expect(403);
  });
});

const stopNames = (root: XmlNode) => root.children.filter((c) => c.name === 'Stop').flatMap((c) => c.children.map((s) => s.attributes.name));

/**
 * Reads the ledger through a store of its own (its own connection, as another process has): the
 * app's may be the one that failed. By name, with whether each session was asked to stop.
 */
async function stopRequestsOnDisk(t: TestApp, callSid: string): Promise<Array<[string, boolean]>> {
  const store = await openStore(t.config.storage, { log: pino({ level: 'silent' }), mode: 'cli' });
  try {
    const sessions = (await store.getCall(callSid))?.sessions ?? [];
    return sessions.map((s): [string, boolean] => [s.name, s.stopRequestedAt !== null]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  } finally {
    await store.close();
  }
}

describeEachBackend('POST /twilio/siprec-stop when the ledger failed the call', (backend) => {
  let t: TestApp;
  let now: number;
  let release: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    now = Date.now();
    // A short write timeout: held write locks fail writes at once, as a read-only or full disk does.
    t = await createTestApp({ backend, writeTimeoutMs: FAST_FAILING_WRITES_MS[backend], clock: () => now });
  });
  afterEach(async () => {
    await release?.();
    release = undefined;
    await t.close();
  });

  /** The voice webhook while the ledger cannot write: answered, and nothing recorded. */
  async function unrecordedCall() {
    release = await t.holdWrites();
    const form = buildVoiceForm();
    const voice = await t.postTwilio('/twilio/voice', form).expect(200);
    expect(parseXml(voice.text).children[0]!.children.map((c) => c.attributes.name)).toEqual(['gridspace', 'compliance']);
    return form;
  }

  it('stops every session of the call’s route, and records the stop once the ledger writes again', async () => {
    const form = await unrecordedCall();
    const res = await t.postTwilio('/twilio/siprec-stop', form).expect(200);
    const root = parseXml(res.text);
    expect(stopNames(root)).toEqual(['gridspace', 'compliance']);
    expect(root.children.at(-1)).toMatchObject({ name: 'Redirect', text: 'https://ivr.example.com/voice' });
    expect(await stopRequestsOnDisk(t, form.CallSid!)).toEqual([]);

    await release!();
    release = undefined;
    await eventually('the stop is recorded', async () => (await stopRequestsOnDisk(t, form.CallSid!)).length === 2);
    expect(await stopRequestsOnDisk(t, form.CallSid!)).toEqual([
      ['compliance', true],
      ['gridspace', true],
    ]);
  });

  it('raises ledger-write-failed when the stop still cannot be recorded after retrying', async () => {
    const form = await unrecordedCall();
    await t.postTwilio('/twilio/siprec-stop', form).expect(200);
    // Past the retry window (and the voice failure's alert window): the next retry gives up.
    now += 6 * 60_000;
    const stopAlert = async () => {
      const res = await operatorApi(t).get('/api/alerts').expect(200);
      return (res.body.alerts as Array<{ kind: string; message: string; callSid: string }>).find((a) => a.kind === 'ledger-write-failed' && /stop/.test(a.message));
    };
    await eventually('a ledger-write-failed alert for the stop', async () => (await stopAlert()) !== undefined);
    expect(await stopAlert()).toMatchObject({ callSid: form.CallSid, message: expect.stringContaining('gridspace, compliance') });
    expect(await stopRequestsOnDisk(t, form.CallSid!)).toEqual([]);
  });

  it('stops every session of the call’s route when the ledger cannot be read, and records the stop', async () => {
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/voice', form).expect(200);
    // Reads fail while writes go on (SQLite's reading connection lost; its writes have their own):
    // forced at the store's edge, so that it is the same fault on either backend.
    const unreadable = (): Promise<never> => Promise.reject(new StoreUnavailableError('reading the ledger failed: forced by the test'));
    const store: Store = { ...t.store, alerts: t.store.alerts, getCall: unreadable, routeOf: unreadable };
    const app = createApp({ config: t.config, store, metrics: t.metrics, siprecApi: t.siprecApi, logger: pino({ level: 'silent' }), clock: () => now });
    const res = await request(app).post('/twilio/siprec-stop').type('form').set('X-Twilio-Signature', sign(TEST_PUBLIC_BASE_URL + '/twilio/siprec-stop', form)).send(form).expect(200);
    expect(stopNames(parseXml(res.text))).toEqual(['gridspace', 'compliance']);
    expect(await stopRequestsOnDisk(t, form.CallSid!)).toEqual([
      ['compliance', true],
      ['gridspace', true],
    ]);
  });
});

describeEachBackend('POST /twilio/siprec-stop while another process holds the write locks', (backend) => {
  let t: TestApp;
  let release: (() => Promise<void>) | undefined;
  // The default write timeout (5 s on SQLite): the write waits that long before it fails.
  beforeEach(async () => (t = await createTestApp({ backend, env: { VOICE_LEDGER_DEADLINE_MS: '300' } })));
  afterEach(async () => {
    await release?.();
    await t.close();
  });

  it('answers by VOICE_LEDGER_DEADLINE_MS, as the voice webhook does, and records the stop once the lock goes', async () => {
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/voice', form).expect(200);
    release = await t.holdWrites();
    const began = Date.now();
    const res = await t.postTwilio('/twilio/siprec-stop', form).expect(200);
    const took = Date.now() - began;
    expect(stopNames(parseXml(res.text))).toEqual(['gridspace', 'compliance']);
    expect(took).toBeLessThan(3_000); // the lock would hold it 5 s
    await release();
    release = undefined;
    await eventually('the stop is recorded', async () => (await stopRequestsOnDisk(t, form.CallSid!)).every(([, asked]) => asked));
  });
});

describeEachBackend('POST /twilio/siprec-stop without To', (backend) => {
  describe.each(['masked', 'none'])('when STORE_CALLER_NUMBERS=%s', (mode) => {
    let t: TestApp;
    let other: TestApp | undefined;
    beforeEach(async () => (t = await createTestApp({ backend, env: { STORE_CALLER_NUMBERS: mode } })));
    afterEach(async () => {
      await other?.close();
      other = undefined;
      await t.close();
    });

    const withoutTo = (form: Record<string, string>) => Object.fromEntries(Object.entries(form).filter(([k]) => k !== 'To' && k !== 'Called'));

    it('continues on the route the voice webhook chose, not the default', async () => {
      const form = buildVoiceForm({ To: '+15550001111' });
      await t.postTwilio('/twilio/voice', form).expect(200);
      const res = await t.postTwilio('/twilio/siprec-stop', withoutTo(form)).expect(200);
      const root = parseXml(res.text);
      expect(stopNames(root)).toEqual(['gridspace', 'compliance']);
      expect(root.children.at(-1)).toMatchObject({ name: 'Redirect', text: 'https://ivr.example.com/voice' });
    });

    /** A second instance over the same ledger, with another routes file, as after an edit and a restart. */
    const restartedWith = async (routes: unknown) => (other = await createTestApp({ ledgerOf: t, routes, env: { STORE_CALLER_NUMBERS: mode } }));

    it('finds the route again when routes.json has moved it', async () => {
      const form = buildVoiceForm({ To: '+15550001111' });
      await t.postTwilio('/twilio/voice', form).expect(200);
      const [own, fallback] = DEFAULT_TEST_ROUTES.routes;
      const inserted = { to: ['+15557770000'], siprec: [{ connectorName: 'Other' }], then: { enqueue: 'other' } };
      const moved = await restartedWith({ routes: [inserted, { ...own, then: { redirect: 'https://ivr.example.com/v2' } }, fallback] });
      const res = await moved.postTwilio('/twilio/siprec-stop', withoutTo(form)).expect(200);
      expect(parseXml(res.text).children.at(-1)).toMatchObject({ name: 'Redirect', text: 'https://ivr.example.com/v2' });
    });

    it('continues on the default route when routes.json no longer has the call’s route', async () => {
      const form = buildVoiceForm({ To: '+15550001111' });
      await t.postTwilio('/twilio/voice', form).expect(200);
      const [own, fallback] = DEFAULT_TEST_ROUTES.routes;
      const changed = await restartedWith({ routes: [{ ...own, to: ['+15550002222'] }, fallback] });
      const res = await changed.postTwilio('/twilio/siprec-stop', withoutTo(form)).expect(200);
      expect(parseXml(res.text).children.at(-1)).toMatchObject({ name: 'Dial' });
    });
  });
});
