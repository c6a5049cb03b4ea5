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

/**
 * Runs `task` again when it says its next work is due (the absolute time it returns), and at least
 * every `everyMs` to see new work (null: nothing known). Each alert's retry is then sent at its
 * documented time, not at the next tick of a fixed interval. Unref'd, never two runs at once; the
 * returned stop waits for a run in progress.
 */
export function runWhenDue(
  everyMs: number,
  task: () => Promise<number | null>,
  onError: (err: unknown) => void,
  clock: () => number = Date.now,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(tick, Math.max(0, Math.min(everyMs, delayMs)));
    timer.unref();
  };
  const tick = () => {
    running = task()
      .catch((err: unknown) => (onError(err), null))
      .then((next) => {
        running = undefined;
        arm(next === null ? everyMs : next - clock());
      });
  };
  arm(everyMs);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
