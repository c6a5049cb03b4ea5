/**
 * A strict parser for the Prometheus text exposition format 0.0.4, for tests: a small grammar
 * (HELP/TYPE lines, metric names, labels with escapes, values, timestamps) that throws on anything
 * the format does not allow, plus the family rules a scraper relies on (TYPE before samples, one
 * group per family, coherent histograms). No parser package is installed, and a regex over the
 * output would accept what Prometheus refuses.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

export class PrometheusParseError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'PrometheusParseError';
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
const SUFFIXES: Record<MetricType, readonly string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

function parseValue(token: string, line: number): number {
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(token)) return Number(token);
  if (/^[+]?inf$/i.test(token)) return Infinity;
  if (/^-inf$/i.test(token)) return -Infinity;
  if (/^nan$/i.test(token)) return NaN;
  throw new PrometheusParseError(line, `"${token}" is not a float`);
}

function unescape(text: string, allowed: string, line: number): string {
  return text.replace(/\\(.)/g, (_m, c: string) => {
    if (!allowed.includes(c)) throw new PrometheusParseError(line, `invalid escape \\${c}`);
    return c === 'n' ? '\n' : c;
  });
}

/** Parses `{a="x",b="y"}` at the start of `rest`; returns the labels and what follows. */
function parseLabels(rest: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let s = rest.slice(1).trimStart();
  while (!s.startsWith('}')) {
    const name = LABEL_NAME.exec(s)?.[0];
    if (!name) throw new PrometheusParseError(line, `expected a label name at "${s.slice(0, 20)}"`);
    if (name in labels) throw new PrometheusParseError(line, `label ${name} given twice`);
    s = s.slice(name.length).trimStart();
    if (!s.startsWith('="') && !/^=\s*"/.test(s)) throw new PrometheusParseError(line, `expected ="…" after label ${name}`);
    s = s.slice(s.indexOf('"') + 1);
    const end = /^(?:[^"\\\n]|\\.)*"/.exec(s);
    if (!end) throw new PrometheusParseError(line, `unterminated value for label ${name}`);
    labels[name] = unescape(end[0].slice(0, -1), '\\"n', line);
    s = s.slice(end[0].length).trimStart();
    if (s.startsWith(',')) s = s.slice(1).trimStart();
    else if (!s.startsWith('}')) throw new PrometheusParseError(line, `expected , or } after label ${name}`);
  }
  return { labels, rest: s.slice(1) };
}

function parseSample(text: string, line: number): Sample {
  const name = METRIC_NAME.exec(text)?.[0];
  if (!name) throw new PrometheusParseError(line, `expected a metric name at "${text.slice(0, 20)}"`);
  let rest = text.slice(name.length);
  let labels: Record<string, string> = {};
  if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
  if (!/^[ \t]+\S/.test(rest)) throw new PrometheusParseError(line, `expected whitespace and a value after ${name}`);
  const tokens = rest.trim().split(/[ \t]+/);
  if (tokens.length > 2) throw new PrometheusParseError(line, `unexpected "${tokens.slice(2).join(' ')}" after the value`);
  const sample: Sample = { name, labels, value: parseValue(tokens[0]!, line) };
  if (tokens[1] !== undefined) {
    if (!/^-?\d+$/.test(tokens[1])) throw new PrometheusParseError(line, `timestamp "${tokens[1]}" is not an integer`);
    sample.timestamp = Number(tokens[1]);
  }
  return sample;
}

function checkHistogram(f: MetricFamily): void {
  const series = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  const keyOf = (labels: Record<string, string>) =>
    JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort(([a], [b]) => a.localeCompare(b)));
  for (const s of f.samples) {
    const entry = series.get(keyOf(s.labels)) ?? { buckets: [] };
    series.set(keyOf(s.labels), entry);
    if (s.name.endsWith('_bucket')) {
      if (s.labels.le === undefined) throw new Error(`${f.name}: a bucket without le`);
      entry.buckets.push([parseValue(s.labels.le, 0), s.value]);
    } else if (s.name.endsWith('_count')) entry.count = s.value;
  }
  for (const [key, { buckets, count }] of series) {
    buckets.sort((a, b) => a[0] - b[0]);
    if (buckets.at(-1)?.[0] !== Infinity) throw new Error(`${f.name}${key}: no le="+Inf" bucket`);
    if (buckets.some(([, v], i) => i > 0 && v < buckets[i - 1]![1])) throw new Error(`${f.name}${key}: buckets are not cumulative`);
    if (count !== buckets.at(-1)![1]) throw new Error(`${f.name}${key}: _count ${count} differs from the +Inf bucket`);
  }
}

/** Parses a whole exposition; families by name. Throws PrometheusParseError naming the line. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const closed = new Set<string>();
  let current: MetricFamily | undefined;
  const familyOf = (name: string, line: number): MetricFamily => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }));
    if (current !== f) {
      if (closed.has(name)) throw new PrometheusParseError(line, `${name} appears in two separate groups`);
      if (current) closed.add(current.name);
      current = f;
    }
    return f;
  };

  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const text = raw.trim();
    if (text === '') return;
    if (text.startsWith('#')) {
      const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(text);
      if (!m) return; // a plain comment
      const [, keyword, name, rest = ''] = m;
      if (!METRIC_NAME.test(name!) || METRIC_NAME.exec(name!)![0] !== name) throw new PrometheusParseError(line, `bad metric name ${name}`);
      const f = familyOf(name, line);
      if (keyword === 'HELP') {
        if (f.help !== undefined) throw new PrometheusParseError(line, `second HELP for ${name}`);
        f.help = unescape(rest, '\\n', line);
      } else {
        if (!TYPES.includes(rest as MetricType)) throw new PrometheusParseError(line, `unknown type "${rest}" for ${name}`);
        if (f.samples.length > 0) throw new PrometheusParseError(line, `TYPE for ${name} after its samples`);
        f.type = rest as MetricType;
      }
      return;
    }
    const sample = parseSample(text, line);
    const owner =
      current && SUFFIXES[current.type].some((suffix) => sample.name === current!.name + suffix) ? current : familyOf(sample.name, line);
    owner.samples.push(sample);
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/** The one sample named `name` whose labels include `labels`; undefined when there is none. */
export function findSample(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): Sample | undefined {
  const matches = [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}; be more specific`);
  return matches[0];
}
