import pino from 'pino';
import type { AlertPolicy } from '../../src/alerts/types';
import { openStore } from '../../src/store';
import { storeFaults } from '../../src/store/faults';
import { StoreUnavailableError, type IncomingEvent, type NewCall, type NewSession, type Store } from '../../src/store/store';
import { testStorage, type BackendName, type TestStorage } from './backends';
import { TEST_ACCOUNT_SID, tempDir, type TempDir } from './env';
import { newCallSid, newSiprecSid } from './twilio-requests';

/**
 * The store contract suite's setup (test/store/contract-*.test.ts): each test gets a fresh, empty
 * ledger on the backend under test, opened as the server opens it, and leaves nothing behind
 * whether it passed or not. Tests reach the ledger through the Store interface only.
 */

/**
 * For the fault cases only: a write stuck behind holdWrites fails within a test's time. The other
 * cases run with the backend's own default, as the server does: on a busy machine a write queued
 * behind others may take longer than this without anything being wrong.
 */
export const WRITE_TIMEOUT_MS = 300;

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** Every time in the suite is given explicitly; none depends on the clock of the machine. */
export const T0 = Date.UTC(2026, 10, 26, 9, 0, 0);
export const iso = (ms: number) => new Date(ms).toISOString();

export const POLICY: AlertPolicy = { initialState: 'pending', burst: { count: 5, windowMs: 5 * MINUTE } };

export interface ContractLedger {
  readonly backend: BackendName;
  readonly store: Store;
  readonly storage: TestStorage;
  /** Another store on the same database: a second instance, or this one after a restart. Closed after the test. */
  openAnother(options?: LedgerOptions): Promise<Store>;
  /** A real write fault from outside the store (src/store/faults.ts); released after the test if it was not. */
  holdWrites(): Promise<() => Promise<void>>;
  /** Closes `store` within the test (what a shutdown does); the cleanup then leaves it be. */
  closeStore(): Promise<void>;
}

const silent = pino({ level: 'silent' });

export interface LedgerOptions {
  /** The backend's default unless given (WRITE_TIMEOUT_MS for the fault cases). */
  writeTimeoutMs?: number;
}

export function useLedger(backend: BackendName, options: LedgerOptions = {}): ContractLedger {
  let dir: TempDir | undefined;
  let storage: TestStorage | undefined;
  let store: Store | undefined;
  let storeClosed = false;
  let others: Store[] = [];
  let holds: Array<() => Promise<void>> = [];

  const open = (s: TestStorage, o: LedgerOptions = options) => openStore(s.storage, { log: silent, writeTimeoutMs: o.writeTimeoutMs });

  beforeEach(async () => {
    dir = tempDir('siprec-contract-');
    storage = await testStorage(backend, dir);
    store = await open(storage);
  });

  afterEach(async () => {
    const failures: unknown[] = [];
    const attempt = async (step: () => unknown) => {
      try {
        await step();
      } catch (err) {
        failures.push(err);
      }
    };
    for (const release of holds) await attempt(release);
    for (const s of others) await attempt(() => s.close());
    if (store && !storeClosed) await attempt(() => store!.close());
    if (storage) await attempt(() => storage!.remove());
    dir?.remove();
    [dir, storage, store, others, holds, storeClosed] = [undefined, undefined, undefined, [], [], false];
    if (failures.length > 0) throw failures[0];
  });

  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is only there inside a test`);
    return value;
  };

  return {
    backend,
    get store() {
      return need(store, 'the store');
    },
    get storage() {
      return need(storage, 'the storage');
    },
    async openAnother(o?: LedgerOptions) {
      const another = await open(need(storage, 'the storage'), o ?? options);
      others.push(another);
      return another;
    },
    async closeStore() {
      storeClosed = true;
      await need(store, 'the store').close();
    },
    async holdWrites() {
      const release = await (await storeFaults(need(storage, 'the storage').storage)).holdWrites();
      let released = false;
      const once = async () => {
        if (released) return;
        released = true;
        await release();
      };
      holds.push(once);
      return once;
    },
  };
}

export const newCall = (over: Partial<NewCall> = {}): NewCall => ({
  callSid: newCallSid(),
  accountSid: TEST_ACCOUNT_SID,
  from: '+14155550100',
  to: '+15550001111',
  direction: 'inbound',
  receivedAt: T0,
  ...over,
});

export const newSession = (name: string, over: Partial<NewSession> = {}): NewSession => ({
  name,
  connectorName: 'Gridspace_1',
  track: 'both_tracks',
  parameters: [],
  ...over,
});

/**
 * A status callback as the status-callback route hands it to the store. Its Timestamp is the
 * instant it happened (occurredAt, by default when it was received), in ISO 8601.
 */
export function callback(
  of: { callSid: string; siprecSid?: string; siprecName?: string },
  over: Partial<IncomingEvent> = {},
): IncomingEvent {
  const receivedAt = over.receivedAt ?? T0;
  const occurredAt = over.occurredAt === undefined ? receivedAt : over.occurredAt;
  return {
    accountSid: TEST_ACCOUNT_SID,
    callSid: of.callSid,
    siprecSid: of.siprecSid ?? newSiprecSid(),
    siprecName: of.siprecName ?? 'gridspace',
    event: 'siprec-started',
    timestampRaw: occurredAt === null ? 'not a time' : iso(occurredAt),
    occurredAt,
    receivedAt,
    errorCode: null,
    errorMessage: null,
    payload: {},
    ...over,
  };
}

/** Expects `write` to fail as unavailable, having waited for the lock first; returns how long it took. */
export async function expectUnavailable(write: () => Promise<unknown>, withinMs = 5_000): Promise<number> {
  const started = Date.now();
  const outcome = await write().then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  const took = Date.now() - started;
  if (outcome.ok) throw new Error(`the write succeeded under held writes (${JSON.stringify(outcome.value)})`);
  expect(outcome.err).toBeInstanceOf(StoreUnavailableError);
  expect(took).toBeLessThan(withinMs);
  return took;
}

/** Runs `n` copies of `task` at once and settles them all. */
export const atOnce = <T>(n: number, task: (i: number) => Promise<T>) => Promise.allSettled(Array.from({ length: n }, (_, i) => task(i)));
