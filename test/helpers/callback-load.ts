import Database from 'better-sqlite3';
import { TEST_PUBLIC_BASE_URL } from './env';
import { buildStatusCallback, newCallSid, newSiprecSid, sign } from './twilio-requests';

export const STATUS_PATH = '/twilio/siprec-status';

/** One signed status callback, ready to be sent (and re-sent unchanged, as Twilio retries). */
export interface SignedCallback {
  key: string;
  body: string;
  signature: string;
}

/** `(SiprecSid, event, Timestamp)`: what the ledger stores a callback under. */
export const eventKey = (siprecSid: string, event: string, timestampRaw: string) => `${siprecSid}|${event}|${timestampRaw}`;

/**
 * `sessions` SIPREC sessions, each with a started and a stopped callback: every callback has a
 * unique (SiprecSid, event, Timestamp), and each session's final state is known (stopped).
 */
export function buildSignedCallbacks(sessions: number, publicBaseUrl = TEST_PUBLIC_BASE_URL): SignedCallback[] {
  const url = publicBaseUrl + STATUS_PATH;
  const out: SignedCallback[] = [];
  for (let i = 0; i < sessions; i++) {
    const common = { CallSid: newCallSid(), SiprecSid: newSiprecSid(), SiprecName: 'gridspace' };
    const startedAt = Date.UTC(2026, 10, 26, 9, 0, 0) + i * 1000;
    for (const [event, at] of [['siprec-started', startedAt], ['siprec-stopped', startedAt + 60_000]] as const) {
      const form = buildStatusCallback({ ...common, SiprecEvent: event, Timestamp: new Date(at).toISOString() });
      out.push({ key: eventKey(form.SiprecSid!, event, form.Timestamp!), body: new URLSearchParams(form).toString(), signature: sign(url, form) });
    }
  }
  return out;
}

export interface LoadFigures {
  sent: number;
  /** Callbacks that got a 2xx at least once. */
  acknowledged: number;
  attempts: number;
  /** Attempts sent and not yet answered, at this moment. */
  inFlight: number;
  /** Attempts that got no response at all (server killed, stopping, or not yet listening). */
  connectionFailures: number;
  /** Attempts answered 503: the ledger could not commit, so the callback was retried. */
  unavailable: number;
  /** Statuses other than 204 and 503, and responses cut off mid-body: each a failure of the test. */
  unexpected: string[];
}

export interface LoadOptions {
  clients: number;
  /** The URL to send to now, or null while no server listens. Asked again before every attempt. */
  target: () => string | null;
  /** Called after each acknowledgement with the live figures, e.g. to fire a fault at a chosen moment. */
  onAck?: (figures: Readonly<LoadFigures>) => void;
  /** false: give up on a callback after one failed attempt (it stays unacknowledged). Default true. */
  retry?: boolean;
  deadlineMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends every callback from `clients` concurrent clients. Like Twilio, a client repeats a callback
 * (unchanged) until it is acknowledged: after a 503, a dropped connection, or a server that is down.
 */
export async function sendCallbacks(callbacks: readonly SignedCallback[], options: LoadOptions): Promise<LoadFigures & { acked: Set<string> }> {
  const figures: LoadFigures = { sent: callbacks.length, acknowledged: 0, attempts: 0, inFlight: 0, connectionFailures: 0, unavailable: 0, unexpected: [] };
  const acked = new Set<string>();
  const retry = options.retry ?? true;
  const deadline = Date.now() + (options.deadlineMs ?? 90_000);
  let next = 0;

  /** One attempt: the status, 0 when no response came, or -1 when the response was cut off. */
  async function attempt(base: string, cb: SignedCallback): Promise<number> {
    figures.attempts++;
    figures.inFlight++;
    try {
      const res = await fetch(base + STATUS_PATH, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': cb.signature },
        body: cb.body,
      }).catch(() => null);
      if (!res) return 0;
      const complete = await res.arrayBuffer().then(() => true, () => false);
      if (!complete) figures.unexpected.push(`${res.status} for ${cb.key} cut off mid-body`);
      return complete ? res.status : -1;
    } finally {
      figures.inFlight--;
    }
  }

  async function deliver(cb: SignedCallback): Promise<void> {
    while (Date.now() < deadline) {
      const base = options.target();
      if (base === null) {
        await sleep(10);
        continue;
      }
      const status = await attempt(base, cb);
      if (status >= 200 && status < 300) {
        acked.add(cb.key);
        figures.acknowledged++;
        options.onAck?.(figures);
        return;
      }
      if (status === 0) figures.connectionFailures++;
      else if (status === 503) figures.unavailable++;
      else {
        if (status !== -1) figures.unexpected.push(`${status} for ${cb.key}`);
        return;
      }
      if (!retry) return;
      await sleep(status === 503 ? 20 : 10);
    }
  }

  await Promise.all(
    Array.from({ length: options.clients }, async () => {
      while (next < callbacks.length) await deliver(callbacks[next++]!);
    }),
  );
  return { ...figures, acked };
}

export interface LedgerCheck {
  /** Stored events by key, with how many rows each has. */
  counts: Map<string, number>;
  stored: number;
  integrity: string;
  sessionStates: Record<string, number>;
}

/** Opens the database file afterwards, as an auditor would, and reads what it holds. */
export function readLedger(databasePath: string): LedgerCheck {
  const db = new Database(databasePath);
  try {
    const rows = db
      .prepare('SELECT siprec_sid, event, timestamp_raw, count(*) AS n FROM siprec_events GROUP BY siprec_sid, event, timestamp_raw')
      .all() as Array<{ siprec_sid: string; event: string; timestamp_raw: string; n: number }>;
    const counts = new Map(rows.map((r) => [eventKey(r.siprec_sid, r.event, r.timestamp_raw), r.n]));
    const stored = (db.prepare('SELECT count(*) AS n FROM siprec_events').get() as { n: number }).n;
    const states = db.prepare('SELECT state, count(*) AS n FROM siprec_sessions GROUP BY state').all() as Array<{ state: string; n: number }>;
    return {
      counts,
      stored,
      integrity: db.pragma('integrity_check', { simple: true }) as string,
      sessionStates: Object.fromEntries(states.map((s) => [s.state, s.n])),
    };
  } finally {
    db.close();
  }
}

/** Acknowledged callbacks that are not stored exactly once. */
export function missingOrDoubled(acked: Iterable<string>, counts: Map<string, number>): string[] {
  return [...acked].filter((k) => counts.get(k) !== 1).map((k) => `${k} stored ${counts.get(k) ?? 0} times`);
}
