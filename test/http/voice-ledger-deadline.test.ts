import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import type { Store } from '../../src/store/store';
import { describeEachBackend } from '../helpers/backends';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildVoiceForm, sign } from '../helpers/twilio-requests';
import { waitUntil } from '../helpers/webhook-client';

/**
 * The voice webhook waits for its ledger write at most VOICE_LEDGER_DEADLINE_MS, then answers: the
 * caller is on the line and Twilio gives up at 15 s. The write goes on; only its failure, whenever
 * it comes, is a failure (counted, logged, alerted once).
 */

const FAILED = 'LEDGER WRITE FAILED';

function capturedLog() {
  const lines: string[] = [];
  return { lines, logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) };
}

describeEachBackend('POST /twilio/voice with a ledger deadline', (backend) => {
  let t: TestApp | undefined;
  let release: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await release?.();
    release = undefined;
    await t?.close();
    t = undefined;
  });

  const failures = async () => (await t!.metrics.ledgerWriteFailures.get()).values[0]?.value ?? 0;

  it('answers by the deadline while another process holds the write locks; the write commits once they are free, and is no failure', async () => {
    // The write timeout is far past the deadline: without one, the answer waits the whole 10 s.
    t = await createTestApp({ backend, env: { VOICE_LEDGER_DEADLINE_MS: '200' }, writeTimeoutMs: 10_000 });
    release = await t.holdWrites();
    const form = buildVoiceForm();
    const sent = performance.now();
    const res = await t.postTwilio('/twilio/voice', form).expect(200);
    expect(performance.now() - sent).toBeLessThan(5_000);
    expect(res.text).toContain('<Start><Siprec');

    await release();
    release = undefined;
    await waitUntil('the call is stored once the locks are gone', async () => (await t!.store.getCall(form.CallSid!)) !== null);
    expect(await failures()).toBe(0);
  });

  it('counts, logs and alerts a write that fails after the call was answered, once', async () => {
    const log = capturedLog();
    t = await createTestApp({ backend, env: { VOICE_LEDGER_DEADLINE_MS: '200' }, writeTimeoutMs: 1_500, logger: log.logger });
    release = await t.holdWrites();
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/voice', form).expect(200);

    await waitUntil('the write fails after its write timeout', async () => (await failures()) > 0);
    // Settled for good: nothing else is on its way for this call.
    await new Promise((r) => setTimeout(r, 200));
    expect(await failures()).toBe(1);
    expect(log.lines.filter((l) => l.includes(FAILED) && l.includes(form.CallSid!))).toHaveLength(1);
    const alerts = await t.store.alerts.list(10);
    expect(alerts).toEqual([expect.objectContaining({ kind: 'ledger-write-failed', callSid: form.CallSid, held: true })]);
  });

  it('answers the TwiML even when the ledger write throws before it has begun', async () => {
    t = await createTestApp({ backend });
    const store: Store = {
      ...t.store,
      recordRequested: () => {
        throw new Error('a store that throws instead of rejecting');
      },
    };
    const app = createApp({ config: t.config, store, metrics: t.metrics, siprecApi: t.siprecApi, logger: pino({ level: 'silent' }) });
    const form = buildVoiceForm();
    const res = await request(app)
      .post('/twilio/voice')
      .type('form')
      .set('X-Twilio-Signature', sign(`${t.config.publicBaseUrl}/twilio/voice`, form))
      .send(form)
      .expect(200);
    expect(res.text).toContain('<Start><Siprec');
    expect(await failures()).toBe(1);
  });
});
