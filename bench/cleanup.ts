/**
 * What must not outlive the bench when it is stopped (Ctrl-C, SIGTERM, a closed terminal): the
 * servers it started and its throwaway PostgreSQL clusters, which would otherwise keep running and
 * keep their data directories under /tmp. Each is registered while it exists.
 */
const cleanups = new Set<() => void>();

/** Registers `fn` to run if the bench is stopped by a signal; call the returned function once it is done with. */
export function onAbort(fn: () => void): () => void {
  cleanups.add(fn);
  return () => void cleanups.delete(fn);
}

export function installAbortHandlers(): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}: stopping what it started\n`);
      for (const fn of cleanups) {
        try {
          fn();
        } catch {
          // the others still get their turn
        }
      }
      process.exit(code);
    });
  }
}
