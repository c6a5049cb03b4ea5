import type { Logger } from 'pino';
import type { Store } from './store/store';

const DAY_MS = 86_400_000;

/** Parses an age such as `90d`, `36h` or `45m` into milliseconds; null when it is not one. */
export function parseAge(text: string): number | null {
  const m = /^(\d{1,6})([dhm])$/.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  if (n <= 0) return null;
  return n * { d: DAY_MS, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm'];
}

export interface RetentionOptions {
  store: Store;
  retentionDays: number;
  logger: Logger;
  clock?: () => number;
  everyMs?: number;
}

/** Purges calls older than the retention period now and then daily; returns a stop function. */
export function startRetention({ store, retentionDays, logger, clock = Date.now, everyMs = DAY_MS }: RetentionOptions): () => Promise<void> {
  let running: Promise<void> | undefined;
  const purge = () => {
    // One reading of the clock for both the cutoff and how long an open session may stay idle.
    const now = clock();
    running ??= store
      .purgeOlderThan(now - retentionDays * DAY_MS, undefined, now)
      .then(
        (r) => logger.info({ ...r, retentionDays }, 'retention purge done'),
        (err) => logger.error({ err }, 'retention purge failed; will try again at the next run'),
      )
      .finally(() => (running = undefined));
  };
  const first = setTimeout(purge, 1_000);
  const timer = setInterval(purge, everyMs);
  first.unref();
  timer.unref();
  return async () => {
    clearTimeout(first);
    clearInterval(timer);
    await running;
  };
}
