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
      const sql = postgres(url, { max: 1, onnotice: () => undefined, connection: { application_name: 'siprec-control holdWrites' } });
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      // The transaction stays open, its locks held, until release() is called; then it rolls back.
      const holding = sql
        .begin(async (tx) => {
          await tx`LOCK TABLE ${tx(LEDGER_TABLES as unknown as string[])} IN EXCLUSIVE MODE`;
          locked();
          await released;
          throw ROLL_BACK;
        })
        .catch((err: unknown) => {
          if (err !== ROLL_BACK) throw err;
        });
      try {
        await Promise.race([isLocked, holding]);
      } catch (err) {
        await sql.end({ timeout: 1 });
        throw err;
      }
      return async () => {
        release();
        try {
          await holding;
        } finally {
          await sql.end({ timeout: 1 });
        }
      };
    },
  };
}

const ROLL_BACK = new Error('holdWrites released: rolled back');
