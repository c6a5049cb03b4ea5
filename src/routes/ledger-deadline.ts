import { StoreUnavailableError } from '../store/store';

/**
 * How long a status callback waits for its commit before it is answered 503. While another
 * process holds the write lock, every queued batch waits busy_timeout (5 s) in turn, so a callback
 * queued behind one would wait 10 s and more; Twilio retries a 503 (Retry-After: 1), and it keeps
 * the rule that 204 comes only after the commit.
 *
 * The write is not withdrawn: it may still commit after its 503. That is harmless, because the
 * ledger keys an event on (SiprecSid, SiprecEvent, Timestamp): Twilio's retry is then a duplicate,
 * acknowledged and stored once, and alerts are raised only by the transaction that inserts the event.
 */
export const CALLBACK_LEDGER_DEADLINE_MS = 4000;

/** True when `write` settles within `ms`; false when the deadline comes first. The write goes on either way. */
export function settlesWithin(write: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  const settled = write.then(
    () => true as const,
    () => true as const,
  );
  return Promise.race([settled, deadline]).finally(() => clearTimeout(timer));
}

/**
 * `write`'s outcome if it comes within `ms`, else StoreUnavailableError (the 503 path). A failure
 * that comes later is the write's own business (settlesWithin has handled it: never unhandled).
 */
export async function committedWithin<T>(write: Promise<T>, ms: number, what: string): Promise<T> {
  if (await settlesWithin(write, ms)) return write;
  throw new StoreUnavailableError(`${what} did not commit within ${ms} ms (the ledger is locked or slow); it may still commit`);
}
