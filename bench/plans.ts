import { ADMIN_AUTHORIZATION, adminGet, duplicateRequests, signedPost, statusRequests, voiceRequests, STATUS_PATH, statusForm } from './forms';
import type { ScenarioPlan } from './scenarios';
import { seededCallSid } from './seed';

/** The four scenarios of the issue, each as what the baseline and siprec-control are driven with. */

export const voicePlan = (): ScenarioPlan => ({
  id: 'voice',
  title: '(1) voice webhook: signature, routing, TwiML, ledger write (a new call each request)',
  baseline: { name: 'POST /twilio/voice', requests: voiceRequests },
  siprec: [{ name: 'POST /twilio/voice', requests: voiceRequests }],
});

export const statusPlan = (): ScenarioPlan => ({
  id: 'status',
  title: '(2) status callbacks, a unique SiprecSid each (every one a durable insert)',
  baseline: { name: 'POST /twilio/siprec-status', requests: statusRequests },
  siprec: [{ name: 'POST /twilio/siprec-status', requests: statusRequests }],
});

/** The form every request of scenario 3 repeats; post it once before the runs so all are duplicates. */
export const duplicateForm = () => statusForm();

export const duplicatePlan = (form: Record<string, string>): ScenarioPlan => ({
  id: 'duplicate',
  title: '(3) duplicates of one status callback (acknowledged, stored once)',
  baseline: { name: 'POST /twilio/siprec-status', requests: () => duplicateRequests(form) },
  siprec: [{ name: 'POST /twilio/siprec-status', requests: () => duplicateRequests(form) }],
});

/** Sends `form` once, signed, and returns the status (204 expected: the original of the duplicates). */
export async function postOnce(url: string, form: Record<string, string>): Promise<number> {
  const req = signedPost(STATUS_PATH, form);
  const res = await fetch(url + STATUS_PATH, { method: 'POST', headers: req.headers as Record<string, string>, body: req.body as string });
  await res.arrayBuffer();
  return res.status;
}

export const API_TARGETS = {
  sessions: 'GET /api/sessions',
  call: 'GET /api/calls/:callSid',
  stats: 'GET /api/stats',
} as const;

/** (4) The operator API on the seeded ledger; each call lookup picks a random seeded call. */
export function apiPlan(calls: number): ScenarioPlan {
  const randomCall = () => `/api/calls/${seededCallSid(Math.floor(Math.random() * calls))}`;
  return {
    id: 'api',
    title: '(4) operator API on the seeded ledger',
    singleClient: true,
    baseline: { name: 'GET (fixed answer)', requests: () => adminGet(() => '/api/sessions') },
    siprec: [
      { name: API_TARGETS.sessions, requests: () => adminGet(() => '/api/sessions') },
      { name: API_TARGETS.call, requests: () => adminGet(randomCall) },
      { name: API_TARGETS.stats, requests: () => adminGet(() => '/api/stats') },
    ],
  };
}

/** Whether the operator API is there yet: each route answers 200 to the admin token. */
export async function operatorApiStatus(url: string): Promise<Record<string, number>> {
  const statuses: Record<string, number> = {};
  for (const p of ['/api/sessions', `/api/calls/${seededCallSid(0)}`, '/api/stats']) {
    const res = await fetch(url + p, { headers: { authorization: ADMIN_AUTHORIZATION } });
    await res.arrayBuffer();
    statuses[p] = res.status;
  }
  return statuses;
}
