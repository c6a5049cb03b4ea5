/**
 * Waits until `check` holds, polling every `everyMs`, for at most `withinMs`: a condition that a
 * background task brings about, not a sleep. Fails with `what` when it never holds.
 */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, withinMs = 10_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
