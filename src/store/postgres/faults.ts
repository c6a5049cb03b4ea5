import postgres from 'postgres';
import type { StoreFaults } from '../faults';

/** Every table a ledger write touches (the counters' too: the triggers write them). */
export const LEDGER_TABLES = [
  'calls',
  'siprec_sessions',
  'siprec_events',
  'alert_outbox',
  'readiness',
  'session_state_counts',
  'event_minute_counts',
] as const;

/**
 * A transaction of its own that holds EXCLUSIVE locks on every ledger table: every write then waits
 * (and fails after the store's deadline), while reads, which need only ACCESS SHARE, go on.
 */
export function postgresFaults(url: string): StoreFaults {
  return {
    holdWrites: async () => {
      const sql = postgres(url, { max: 1, onnotice: () => undefined, fetch_types: false, connection: { application_name: 'siprec-control holdWrites' } });
      const conn = await sql.reserve();
      try {
        await conn`BEGIN`;
        await conn`LOCK TABLE ${conn(LEDGER_TABLES as unknown as string[])} IN EXCLUSIVE MODE`;
      } catch (err) {
        conn.release();
        await sql.end({ timeout: 1 });
        throw err;
      }
      return async () => {
        try {
          await conn`ROLLBACK`;
        } finally {
          conn.release();
          await sql.end({ timeout: 1 });
        }
      };
    },
  };
}
