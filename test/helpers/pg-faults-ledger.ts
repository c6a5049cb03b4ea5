import postgres from 'postgres';
import { eventKey, sendCallbacks, type SignedCallback } from './callback-load';
import { testEnv, type TempDir } from './env';

/**
 * What the PostgreSQL fault tests share: the server's environment on a DATABASE_URL, an auditor's
 * read of the ledger afterwards, and callbacks sent with the time of the attempt that was acknowledged.
 */

/** testEnv without DATABASE_PATH (the config refuses both), on `databaseUrl`. */
export function pgEnv(dir: TempDir, databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  const { DATABASE_PATH: _sqlite, ...env } = testEnv(dir);
  return { ...env, DATABASE_URL: databaseUrl, ...extra };
}

export interface PgLedger {
  /** Stored events by (SiprecSid, event, Timestamp), with how many rows each has. */
  counts: Map<string, number>;
  stored: number;
}

/** Reads the events table on `url` afterwards, as an auditor would, on a connection of its own. */
export async function readPgLedger(url: string): Promise<PgLedger> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined, connect_timeout: 10 });
  try {
    const rows = await sql<Array<{ siprec_sid: string; event: string; timestamp_raw: string; n: number }>>`
      SELECT siprec_sid, event, timestamp_raw, count(*)::int AS n FROM siprec_events GROUP BY siprec_sid, event, timestamp_raw`;
    const [total] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM siprec_events`;
    return { counts: new Map(rows.map((r) => [eventKey(r.siprec_sid, r.event, r.timestamp_raw), r.n])), stored: total!.n };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export interface TimedAck {
  key: string;
  /** When the attempt that got the 2xx was sent, and when its answer came. */
  sentAt: number;
  ackedAt: number;
}

export interface TimedLoad {
  acks: TimedAck[];
  attempts: number;
  unavailable: number;
  connectionFailures: number;
  unexpected: string[];
}

/**
 * Like sendCallbacks, from `clients` clients, each callback repeated until acknowledged, but keeping
 * per callback when its acknowledged attempt was sent: a 204 that arrives just after a fault may
 * answer a write committed just before it, so "the first 204 after" counts only attempts sent after.
 * `onAck` may fire a fault at a chosen moment; `stop` (a server that exited) ends the load at once.
 */
export async function sendTimedCallbacks(
  callbacks: readonly SignedCallback[],
  options: { clients: number; url: string; deadlineMs: number; onAck?: (acks: readonly TimedAck[]) => void; stop?: () => boolean },
): Promise<TimedLoad> {
  const load: TimedLoad = { acks: [], attempts: 0, unavailable: 0, connectionFailures: 0, unexpected: [] };
  const deadline = Date.now() + options.deadlineMs;
  const going = () => Date.now() < deadline && !options.stop?.();
  let next = 0;
  await Promise.all(
    Array.from({ length: options.clients }, async () => {
      while (next < callbacks.length && going()) {
        const cb = callbacks[next++]!;
        let sentAt = 0;
        let acked = false;
        // In slices of at most a second, so that `stop` is heard while a callback is being retried.
        while (!acked && going()) {
          // One callback, one client: sendCallbacks asks for the target right before each attempt.
          const r = await sendCallbacks([cb], {
            clients: 1,
            target: () => ((sentAt = Date.now()), options.url),
            deadlineMs: Math.min(1_000, deadline - Date.now()),
          });
          load.attempts += r.attempts;
          load.unavailable += r.unavailable;
          load.connectionFailures += r.connectionFailures;
          load.unexpected.push(...r.unexpected);
          if (r.unexpected.length > 0) break;
          acked = r.acked.has(cb.key);
        }
        if (acked) {
          load.acks.push({ key: cb.key, sentAt, ackedAt: Date.now() });
          options.onAck?.(load.acks);
        }
      }
    }),
  );
  return load;
}
