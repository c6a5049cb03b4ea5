/**
 * Runs `task` every `everyMs` on an unref'd timer (it never keeps the process alive), never two runs
 * at once. The returned stop waits for a run in progress, so the database can close after it.
 */
export function runEvery(everyMs: number, task: () => Promise<unknown>, onError: (err: unknown) => void): () => Promise<void> {
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = () => {
    if (stopped || running) return;
    running = task()
      .then(() => undefined, onError)
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

// Closures, not methods: callers hand wake and stop on as callbacks.
export interface DueRunner {
  /** Runs the task at once (after the run in progress, if any): something it waits for has changed. */
  readonly wake: () => void;
  /** Stops the timer and waits for a run in progress. */
  readonly stop: () => Promise<void>;
}

/**
 * Runs `task` again when it says its next work is due (the absolute time it returns), and at least
 * every `everyMs` to see new work (null: nothing known). Each alert's retry is then sent at its
 * documented time, not at the next tick of a fixed interval; a clock stepped back waits at most
 * `everyMs` more. Unref'd, never two runs at once.
 */
export function runWhenDue(
  everyMs: number,
  task: () => Promise<number | null>,
  onError: (err: unknown) => void,
  clock: () => number = Date.now,
): DueRunner {
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let wokenWhileRunning = false;
  const arm = (delayMs: number) => {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(tick, Math.max(0, Math.min(everyMs, delayMs)));
    timer.unref();
  };
  const tick = () => {
    wokenWhileRunning = false;
    running = task()
      .catch((err: unknown) => (onError(err), null))
      .then((next) => {
        running = undefined;
        arm(wokenWhileRunning ? 0 : next === null ? everyMs : next - clock());
      });
  };
  arm(everyMs);
  return {
    wake: () => {
      if (stopped) return;
      if (running) wokenWhileRunning = true;
      else arm(0);
    },
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
