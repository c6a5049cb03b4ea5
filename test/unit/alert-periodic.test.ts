import { runWhenDue } from '../../src/alerts/periodic';

// The alert sender's scheduler on Jest's fake clock: Date.now() and the timers move only when the test
// moves them, so each run's time is exact. setSystemTime moves Date.now() alone, as a clock step does.
describe('runWhenDue, the alert sender’s scheduler', () => {
  let stop: (() => Promise<void>) | undefined;
  beforeEach(() => jest.useFakeTimers());
  afterEach(async () => {
    await stop?.();
    stop = undefined;
    jest.useRealTimers();
  });

  /** Starts the scheduler over `task`; runs are recorded as ms since the start. */
  function start(task: (run: number) => Promise<number | null>, onError: (err: unknown) => void = (err) => { throw err; }) {
    const t0 = Date.now();
    const runs: number[] = [];
    const sched = runWhenDue(1_000, () => (runs.push(Date.now() - t0), task(runs.length)), onError);
    stop = sched.stop;
    return { runs, t0, wake: sched.wake };
  }

  it('polls every second while nothing is due, and runs when the task says its next work is due', async () => {
    const { runs, t0 } = start((run) => Promise.resolve(run === 2 ? t0 + 2_250 : null));
    await jest.advanceTimersByTimeAsync(2_000);
    expect(runs).toEqual([1_000, 2_000]);
    await jest.advanceTimersByTimeAsync(249);
    expect(runs).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(1);
    expect(runs).toEqual([1_000, 2_000, 2_250]);
  });

  it('runs at once when the clock stepped past the due time, and still polls every second when it stepped back', async () => {
    // Each run ends when the test says, outside any timer, as a run that waits for the network does.
    let end: ((next: number | null) => void) | undefined;
    const { runs, t0 } = start(() => new Promise<number | null>((resolve) => (end = resolve)));
    await jest.advanceTimersByTimeAsync(1_000);
    jest.setSystemTime(Date.now() + 3_600_000); // an hour ahead: what was due in 500 ms is overdue
    end!(t0 + 1_500);
    await jest.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([1_000, 3_601_000]);

    jest.setSystemTime(Date.now() - 7_200_000); // two hours back: the same due time is now far off
    end!(t0 + 1_500);
    await jest.advanceTimersByTimeAsync(999);
    expect(runs).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(1);
    expect(runs).toEqual([1_000, 3_601_000, -3_598_000]);
    end!(null);
  });

  it('runs at once when woken while idle, and once more after a run it was woken during', async () => {
    let release: (() => void) | undefined;
    const { runs, wake } = start((run) =>
      run === 2 ? new Promise<null>((resolve) => (release = () => resolve(null))) : Promise.resolve(null),
    );
    await jest.advanceTimersByTimeAsync(400);
    wake();
    await jest.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([400]);
    await jest.advanceTimersByTimeAsync(1_000); // the poll after it: a run that waits
    expect(runs).toEqual([400, 1_400]);
    wake();
    wake();
    await jest.advanceTimersByTimeAsync(100);
    expect(runs).toHaveLength(2); // never two runs at once
    release!();
    await jest.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([400, 1_400, 1_500]); // one run for both wakes, as soon as the other ended
  });

  it('stops: waits for a run in progress, leaves no timer, and a wake after stop runs nothing', async () => {
    let release: (() => void) | undefined;
    let ended = false;
    const { runs, wake } = start(() => new Promise<null>((resolve) => (release = () => ((ended = true), resolve(null)))));
    await jest.advanceTimersByTimeAsync(1_000);
    expect(runs).toEqual([1_000]);
    const stopping = stop!();
    stop = undefined;
    let stopped = false;
    void stopping.then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    release!();
    await stopping;
    expect(ended).toBe(true);
    wake();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(runs).toEqual([1_000]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('reports a failed run and polls again a second later', async () => {
    const errors: unknown[] = [];
    const { runs } = start(
      (run) => (run === 1 ? Promise.reject(new Error('outbox unreadable')) : Promise.resolve(null)),
      (err) => errors.push(err),
    );
    await jest.advanceTimersByTimeAsync(2_000);
    expect(runs).toEqual([1_000, 2_000]);
    expect(errors).toEqual([new Error('outbox unreadable')]);
  });
});
