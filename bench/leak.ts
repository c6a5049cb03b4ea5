import { tempDir } from '../test/helpers/env';
import { mixedRequests } from './forms';
import { runLoad, summarize } from './load';
import type { BenchOptions } from './options';
import { peakRssMb, rssMb } from './proc';
import { startSiprec } from './servers';

export interface LeakResult {
  seconds: number;
  rate: number;
  /** Mean RSS of the first and the last 5 samples, MiB. */
  startMb: number;
  endMb: number;
  maxMb: number;
  growthMb: number;
  growthPct: number;
  /** Least-squares slope over all samples, MiB per minute. */
  slopeMbPerMin: number;
  peakRssMb: number;
  samplesMb: number[];
  p99: number;
  non2xx: number;
  errors: number;
  /** Growth allowed as noise (the heap and SQLite's page cache settle): max(4 MiB, 5 %). */
  toleranceMb: number;
  met: boolean;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function slopePerMinute(ys: number[]): number {
  const xs = ys.map((_, i) => i);
  const mx = mean(xs);
  const my = mean(ys);
  const num = xs.reduce((acc, x, i) => acc + (x - mx) * (ys[i]! - my), 0);
  const den = xs.reduce((acc, x) => acc + (x - mx) ** 2, 0);
  return den === 0 ? 0 : (num / den) * 60;
}

/**
 * Sustained load at the fixed rate (a voice call then its status callback, all fresh), RSS sampled
 * every second. A warm-up first lets JIT, heaps and page cache reach their working size, so a leak
 * shows as growth after that, not as the climb. Measured with the writer thread (two V8 heaps, two
 * SQLite connections): RSS climbs for 40–50 s under this load, then moves between 170 and 187 MiB
 * without a trend over the next two minutes (RSS every 10 s over 180 s, 2026-11-26).
 */
export const LEAK_WARMUP_SECONDS = 45;
export async function leakCheck(opts: BenchOptions, log: (line: string) => void): Promise<LeakResult> {
  const dir = tempDir('siprec-bench-leak-');
  const server = await startSiprec({ dir, databasePath: dir.file('ledger.sqlite') });
  try {
    const load = (seconds: number) =>
      runLoad({ url: server.url, requests: mixedRequests(), connections: opts.connections, seconds, overallRate: opts.rate, serverPid: server.pid });
    await load(LEAK_WARMUP_SECONDS);
    const samplesMb: number[] = [rssMb(server.pid)];
    const timer = setInterval(() => samplesMb.push(rssMb(server.pid)), 1000);
    const run = await load(opts.leakSeconds).finally(() => clearInterval(timer));
    samplesMb.push(rssMb(server.pid));
    const s = summarize([run]);
    const startMb = mean(samplesMb.slice(0, 5));
    const endMb = mean(samplesMb.slice(-5));
    const growthMb = endMb - startMb;
    const toleranceMb = Math.max(4, startMb * 0.05);
    const result: LeakResult = {
      seconds: run.seconds,
      rate: s.rps,
      startMb,
      endMb,
      maxMb: Math.max(...samplesMb),
      growthMb,
      growthPct: (growthMb / startMb) * 100,
      slopeMbPerMin: slopePerMinute(samplesMb),
      peakRssMb: peakRssMb(server.pid),
      samplesMb,
      p99: s.p99,
      non2xx: s.non2xx,
      errors: s.errors,
      toleranceMb,
      met: growthMb <= toleranceMb,
    };
    log(
      `[leak] ${result.seconds.toFixed(0)} s at ${result.rate.toFixed(0)} req/s: RSS ${startMb.toFixed(1)} → ${endMb.toFixed(1)} MiB ` +
        `(${growthMb >= 0 ? '+' : ''}${growthMb.toFixed(1)} MiB, slope ${result.slopeMbPerMin.toFixed(2)} MiB/min), max ${result.maxMb.toFixed(1)} MiB`,
    );
    return result;
  } finally {
    await server.stop();
    dir.remove();
  }
}
