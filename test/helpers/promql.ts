/**
 * What a PromQL expression reads, for checking rules and dashboards against a real /metrics: the
 * metric names it selects, the labels it matches on each, and the labels it groups by. Not a full
 * parser (no promtool is installed): string literals, ranges and Grafana's $variables are stripped,
 * and a name followed by "(" is a function or an aggregation, not a metric.
 */

export interface Selector {
  metric: string;
  /** Label matchers as written: name, operator, value. */
  matchers: Array<{ label: string; op: string; value: string }>;
}

export interface ExprReads {
  selectors: Selector[];
  /** Labels named in by (…), without (…), on (…), ignoring (…), group_left (…), group_right (…). */
  grouping: string[];
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'atan2']);
const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;

function parseMatchers(body: string): Selector['matchers'] {
  const out: Selector['matchers'] = [];
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(body))) {
    out.push({ label: m[1]!, op: m[2]!, value: m[3]! });
    end = re.lastIndex;
  }
  if (body.slice(end).trim() !== '') throw new Error(`cannot read the label matchers {${body}}`);
  return out;
}

export function readExpr(expr: string): ExprReads {
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  // Ranges and subqueries ([5m], [$__rate_interval], [1h:5m]) say nothing about names.
  const text = expr.replace(/\[[^\]]*\]/g, ' ');
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"' || c === "'" || c === '`') {
      const close = text.indexOf(c, i + 1);
      if (close < 0) throw new Error(`unterminated string in ${expr}`);
      i = close + 1;
      continue;
    }
    if (c === '{') {
      // A selector with no name: {__name__="…"}; not used by these files.
      throw new Error(`a selector without a metric name in ${expr}`);
    }
    if (c === '$') {
      NAME.lastIndex = i + 1;
      const v = NAME.exec(text);
      i = i + 1 + (v?.[0].length ?? 0);
      continue;
    }
    NAME.lastIndex = i;
    const m = /[a-zA-Z_:]/.test(c) && (i === 0 || !/[\w.]/.test(text[i - 1]!)) ? NAME.exec(text) : null;
    if (!m) {
      i++;
      continue;
    }
    const name = m[0];
    let j = i + name.length;
    while (text[j] === ' ' || text[j] === '\n') j++;
    if (KEYWORDS.has(name)) {
      if (['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'].includes(name) && text[j] === '(') {
        const close = text.indexOf(')', j);
        grouping.push(...text.slice(j + 1, close).split(',').map((l) => l.trim()).filter((l) => l !== ''));
        i = close + 1;
      } else i = j;
      continue;
    }
    // A function, or an aggregation (sum (…), or sum by (…) (…)).
    if (text[j] === '(' || /^(by|without)\s*\(/.test(text.slice(j))) {
      i = j;
      continue;
    }
    if (text[j] === '{') {
      const close = text.indexOf('}', j);
      selectors.push({ metric: name, matchers: parseMatchers(text.slice(j + 1, close)) });
      i = close + 1;
      continue;
    }
    selectors.push({ metric: name, matchers: [] });
    i = j;
  }
  return { selectors, grouping };
}
