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
