import { MAX_CALL_IDLE_MS, type PurgeResult } from '../store';
import { destroyPool, type Deadlined, type Sql } from './connection';

/** The advisory lock of "purging this ledger": two instances never purge at once. */
const PURGE_LOCK = 0x5ec_0004;

const NOTHING: PurgeResult = { calls: 0, sessions: 0, events: 0, alerts: 0, batches: 0 };

/**
 * Deletes calls idle since before `cutoff` (store.ts purgeOlderThan), with their sessions and events
 * (ON DELETE CASCADE), in batches that each commit on their own. The whole purge holds a session
 * advisory lock on a connection of its own: an instance that finds it taken returns at once, having
 * done nothing (the other is purging). Each batch locks the calls it deletes with SKIP LOCKED: a call
 * being written right now is not idle, and the purge never waits for a live write (nor deadlocks
 * with one). A callback committed before the batch made its call young and is kept; one after it
 * finds the call gone and records it afresh, as SQLite's does.
 */
export async function purgeOlderThan(
  db: Deadlined,
  lockConnection: () => Sql,
  deadlineMs: number,
  cutoff: number,
  batchSize: number,
  now: number,
): Promise<PurgeResult> {
  const staleBefore = Math.min(cutoff, now - MAX_CALL_IDLE_MS);
  // Its own connection (a pool of one), not one of the pool's: a pool of one connection could not
  // otherwise hold the lock and run the batches. Ending it releases the lock whatever happened.
  const holder = lockConnection();
  try {
    const [lock] = await db.run('purging old calls', deadlineMs, () => holder<Array<{ ok: boolean }>>`SELECT pg_try_advisory_lock(${PURGE_LOCK}) AS ok`);
    if (!lock?.ok) return { ...NOTHING };
    return await batches(db, deadlineMs, cutoff, staleBefore, batchSize);
  } finally {
    await destroyPool(holder);
  }
}

async function batches(db: Deadlined, deadlineMs: number, cutoff: number, staleBefore: number, limit: number): Promise<PurgeResult> {
  const total = { ...NOTHING };
  // Calls are walked by creation (calls_created, migrations/postgres/007): one idle since `cutoff`
  // was created before it, and last_activity_at is left out of every index so that the callbacks'
  // updates of it stay cheap. Each batch goes on after the last call the one before deleted: the live
  // calls it passed over stay passed over, rather than being read again by every batch.
  let afterAt = Number.MIN_SAFE_INTEGER;
  let afterSid = '';
  for (;;) {
    const done = await db.tx('purging old calls', deadlineMs, async (tx) => {
      const rows = await tx<Array<{ call_sid: string; created_at: number }>>`SELECT c.call_sid, c.created_at FROM calls c
        WHERE c.created_at < ${cutoff} AND (c.created_at, c.call_sid) > (${afterAt}::bigint, ${afterSid}::text)
          AND coalesce(c.last_activity_at, c.created_at) < ${cutoff}
          AND (coalesce(c.last_activity_at, c.created_at) < ${staleBefore}
            OR NOT EXISTS (SELECT 1 FROM siprec_sessions s WHERE s.call_sid = c.call_sid AND s.state IN ('requested', 'active')))
        ORDER BY c.created_at, c.call_sid LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
      if (rows.length === 0) return null;
      const sids = rows.map((r) => r.call_sid);
      const [counted] = await tx<Array<{ sessions: number; events: number }>>`SELECT
          (SELECT count(*) FROM siprec_sessions WHERE call_sid IN ${tx(sids)}) AS sessions,
          (SELECT count(*) FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id WHERE s.call_sid IN ${tx(sids)}) AS events`;
      await tx`DELETE FROM calls WHERE call_sid IN ${tx(sids)}`;
      return { calls: rows.length, ...counted!, last: rows.at(-1)! };
    });
    if (done === null) break;
    total.calls += done.calls;
    total.sessions += done.sessions;
    total.events += done.events;
    total.batches += 1;
    afterAt = done.last.created_at;
    afterSid = done.last.call_sid;
  }
  // Alerts name calls and carry error text: they age out too, once no longer waiting for delivery.
  total.alerts = await db.tx('purging old alerts', deadlineMs, async (tx) =>
    (await tx`DELETE FROM alert_outbox WHERE occurred_at < ${cutoff} AND state NOT IN ('pending', 'retrying')`).count,
  );
  return total;
}
