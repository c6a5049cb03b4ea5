import { existsSync, readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import path from 'node:path';

/**
 * A small analyzer for V8 .cpuprofile files (node --cpu-prof): self time per function, self time
 * per package, and total (inclusive) time of siprec-control's own functions. V8 samples the main
 * thread on a timer whether it runs or waits, so a synchronous fsync shows up as self time of the
 * native function that made it (better-sqlite3's run/exec), not as idle.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  location: string;
  ms: number;
  /** Share of the busy (non-idle) time, %. */
  pct: number;
}

export interface ProfileSummary {
  file: string;
  sampledMs: number;
  busyMs: number;
  idlePct: number;
  gcPct: number;
  topSelf: FunctionTime[];
  byPackage: Array<{ pkg: string; ms: number; pct: number }>;
  /** siprec-control's own functions (dist/), inclusive of what they call (not of the next middleware). */
  ownInclusive: FunctionTime[];
  /** Known steps of the hot path in the libraries, inclusive of what they call. */
  stages: Array<{ stage: string; ms: number; pct: number }>;
}

/** Library functions worth timing whole: where a request's time goes outside our own frames. */
const STAGES: Array<{ stage: string; fn: string[]; url: string }> = [
  { stage: 'helmet (all headers)', fn: ['helmetMiddleware'], url: 'helmet' },
  { stage: 'express.urlencoded (form parsing)', fn: ['urlencodedParser'], url: 'body-parser' },
  { stage: 'express.json', fn: ['jsonParser'], url: 'body-parser' },
  { stage: 'twilio validateRequest', fn: ['validateRequest'], url: 'twilio/lib/webhooks' },
  { stage: 'twilio addPort/removePort (URL variants)', fn: ['addPort', 'removePort'], url: 'twilio/lib/webhooks' },
  { stage: 'twilio HMAC (getExpectedTwilioSignature)', fn: ['getExpectedTwilioSignature'], url: 'twilio/lib/webhooks' },
  { stage: 'TwiML toString (xmlbuilder)', fn: ['toString'], url: 'twilio/lib/twiml/TwiML' },
  { stage: 'zod safeParse', fn: ['safeParse'], url: 'zod' },
  { stage: 'pino child logger', fn: ['child'], url: 'pino' },
  { stage: 'pino write', fn: ['write', 'LOG'], url: 'pino' },
  { stage: 'better-sqlite3 transaction (incl. COMMIT/fsync)', fn: ['sqliteTransaction'], url: 'better-sqlite3' },
  { stage: 'express res.send / res.json', fn: ['send', 'json'], url: 'express/lib/response' },
  { stage: '  of which ETag (etag setting)', fn: ['etag'], url: '/etag/' },
  { stage: 'crypto.randomUUID', fn: ['randomUUID'], url: 'node:' },
];

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

const sourceMaps = new Map<string, SourceMap | null>();

/** dist/… positions mean little to a reader: map them back to src/… through the build's source maps. */
function original(file: string, line: number, column: number): string | undefined {
  if (!sourceMaps.has(file)) {
    const map = `${file}.map`;
    sourceMaps.set(file, existsSync(map) ? new SourceMap(JSON.parse(readFileSync(map, 'utf8')) as SourceMapPayload) : null);
  }
  const entry: { originalSource?: string; originalLine?: number } | undefined = sourceMaps.get(file)?.findEntry(line, column);
  if (!entry?.originalSource || entry.originalLine === undefined) return undefined;
  return `${path.resolve(path.dirname(file), entry.originalSource)}:${entry.originalLine + 1}`;
}

function location(frame: CallFrame, root: string): string {
  if (!frame.url) return '';
  let u = frame.url.replace(/^file:\/\//, '');
  if (/\/dist\//.test(u) && !u.includes('/node_modules/')) {
    const src = original(u, frame.lineNumber, frame.columnNumber);
    if (src) return path.relative(root, src);
  }
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) u = u.slice(nm + '/node_modules/'.length);
  else if (u.startsWith(root)) u = path.relative(root, u);
  return `${u}:${frame.lineNumber + 1}`;
}

function packageOf(frame: CallFrame): string {
  if (SPECIAL.has(frame.functionName)) return frame.functionName;
  const u = frame.url;
  if (!u) return '(native: V8 builtins and C++ bindings)';
  if (u.startsWith('node:')) return 'node core';
  const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u);
  if (m) return m[1]!;
  if (/\/dist\//.test(u)) return 'siprec-control (dist/)';
  return 'other';
}

/**
 * Summarizes `file`; with a window (CLOCK_MONOTONIC µs, the clock of process.hrtime and of V8's
 * profile timestamps on Linux) only the samples taken under load count, not start-up or shut-down.
 */
export function analyzeProfile(file: string, root: string, top = 15, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  let t = profile.startTime;
  const inWindow = (at: number) => !window || (at >= window.fromUs && at <= window.toUs);
  // Fall back to the whole profile if the clocks turn out not to match.
  const useWindow = window && profile.startTime <= window.toUs && profile.endTime >= window.fromUs;

  const self = new Map<string, { frame: CallFrame; ms: number }>();
  const inclusive = new Map<string, { frame: CallFrame; ms: number }>();
  const packages = new Map<string, number>();
  const stages = new Map<string, number>();
  let sampledMs = 0;
  let idleMs = 0;
  let gcMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (useWindow && !inWindow(t)) continue;
    const ms = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(profile.samples[i]!)!;
    const frame = node.callFrame;
    sampledMs += ms;
    if (frame.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    if (frame.functionName === '(garbage collector)') gcMs += ms;
    const key = `${frame.functionName}@${frame.url}:${frame.lineNumber}`;
    const s = self.get(key) ?? { frame, ms: 0 };
    s.ms += ms;
    self.set(key, s);
    const pkg = packageOf(frame);
    packages.set(pkg, (packages.get(pkg) ?? 0) + ms);
    // Inclusive time of our own code and of the library stages, each once per stack. A middleware
    // calls next() synchronously, so above the first router frame the time is the downstream
    // handler's, not the middleware's own: frames met after one are not credited.
    const seen = new Set<string>();
    let dispatched = false;
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (f.url.includes('/node_modules/router/')) dispatched = true;
      if (dispatched) continue;
      for (const st of STAGES) {
        if (!seen.has(st.stage) && st.fn.includes(f.functionName) && f.url.includes(st.url)) {
          seen.add(st.stage);
          stages.set(st.stage, (stages.get(st.stage) ?? 0) + ms);
        }
      }
      if (!/\/dist\//.test(f.url) || /node_modules/.test(f.url)) continue;
      const k = `${f.functionName}@${f.url}:${f.lineNumber}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const e = inclusive.get(k) ?? { frame: f, ms: 0 };
      e.ms += ms;
      inclusive.set(k, e);
    }
  }
  const busyMs = sampledMs - idleMs;
  const pct = (ms: number) => (busyMs > 0 ? (ms / busyMs) * 100 : 0);
  const toRows = (m: Map<string, { frame: CallFrame; ms: number }>) =>
    [...m.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((e) => ({ name: e.frame.functionName || '(anonymous)', location: location(e.frame, root), ms: e.ms, pct: pct(e.ms) }));
  return {
    file,
    sampledMs,
    busyMs,
    idlePct: sampledMs > 0 ? (idleMs / sampledMs) * 100 : 0,
    gcPct: pct(gcMs),
    topSelf: toRows(self),
    byPackage: [...packages.entries()].sort((a, b) => b[1] - a[1]).map(([pkg, ms]) => ({ pkg, ms, pct: pct(ms) })),
    ownInclusive: toRows(inclusive),
    stages: STAGES.flatMap(({ stage }) => (stages.has(stage) ? [{ stage, ms: stages.get(stage)!, pct: pct(stages.get(stage)!) }] : [])),
  };
}

export function formatProfile(s: ProfileSummary): string {
  const f = (x: number) => x.toFixed(1);
  const lines = [
    `${path.basename(s.file)}: ${f(s.sampledMs)} ms sampled, ${f(s.idlePct)} % idle, GC ${f(s.gcPct)} % of busy`,
    '  self time (busy %), top functions:',
    ...s.topSelf.map((r) => `    ${f(r.pct).padStart(5)} %  ${f(r.ms).padStart(8)} ms  ${r.name}  ${r.location}`),
    '  self time by package:',
    ...s.byPackage.slice(0, 12).map((r) => `    ${f(r.pct).padStart(5)} %  ${r.pkg}`),
    "  siprec-control's own functions, total time (incl. callees):",
    ...s.ownInclusive.map((r) => `    ${f(r.pct).padStart(5)} %  ${r.name}  ${r.location}`),
    '  library steps, total time (incl. callees):',
    ...s.stages.map((r) => `    ${f(r.pct).padStart(5)} %  ${r.stage}`),
  ];
  return lines.join('\n');
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node dist-bench/bench/cpuprofile.js <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatProfile(analyzeProfile(file, path.resolve(__dirname, '..', '..'), Number(top) || 15))}\n`);
}
