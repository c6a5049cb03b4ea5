/**
 * deploy/prometheus, deploy/grafana and deploy/alert-receiver against a running siprec-control:
 * every metric and label the rules and the dashboard read is in its real /metrics output (promtool is
 * not installed here), and the sample receiver accepts the app's genuine alert deliveries and refuses
 * forged and replayed ones.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { signatureHeaders } from '../../src/alerts/signer';
import { startAlertHarness, ALERT_SECRET, type AlertHarness } from '../helpers/alert-harness';
import { startChild, type Child } from '../helpers/checkout-copy';
import { BEARER } from '../helpers/operator-api';
import { parsePrometheusText, type MetricFamily } from '../helpers/prometheus-text';
import { readExpr } from '../helpers/promql';
import { buildStatusCallback } from '../helpers/twilio-requests';
import { ROOT } from '../helpers/server-process';
import { parse as parseYaml } from 'yaml';

const loadYaml = (text: string): unknown => parseYaml(text);

const DEPLOY = path.join(ROOT, 'deploy');
/** Series Prometheus makes itself at each scrape, and the labels it adds to every series. */
const SCRAPE_SERIES = new Set(['up']);
const TARGET_LABELS = ['job', 'instance'];

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rulesFile = loadYaml(readFileSync(path.join(DEPLOY, 'prometheus', 'siprec-control.rules.yml'), 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> };
const rules = rulesFile.groups.flatMap((g) => g.rules);
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: Array<{ expr: string; datasource?: { uid: string } }>;
  panels?: Panel[];
}
const dashboard = JSON.parse(readFileSync(path.join(DEPLOY, 'grafana', 'siprec-control.dashboard.json'), 'utf8')) as {
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: string | { query: string } }> };
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const panelExprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
const variableQueries = dashboard.templating.list.flatMap((v) => (v.type === 'query' ? [{ name: v.name, query: typeof v.query === 'string' ? v.query : v.query.query }] : []));

/** A real app, driven once through each kind of traffic so that every labelled metric has a sample. */
async function scrapeAfterTraffic(h: AlertHarness): Promise<Map<string, MetricFamily>> {
  const callSid = await h.answeredCall();
  await h.t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: callSid, SiprecName: 'gridspace', SiprecEvent: 'siprec-started' })).expect(204);
  await h.postError(callSid, 'compliance');
  await request(h.t.app).post('/twilio/voice').type('form').send({ CallSid: callSid }).expect(400); // unsigned
  await request(h.t.app).post(`/api/calls/${callSid}/siprec`).set('Authorization', BEARER).send({ connectorName: 'Gridspace_1', name: 'extra' }); // Twilio unreachable
  await request(h.t.app).get('/readyz').expect(200);
  await h.drain();
  // The delivery is counted once its answer is in: wait for that, not for a fixed time.
  for (const deadline = Date.now() + 10_000; ; ) {
    const res = await request(h.t.app).get('/metrics').set('Authorization', BEARER).expect(200);
    const families = parsePrometheusText(res.text);
    if ((families.get('siprec_alert_deliveries_total')?.samples.length ?? 0) > 0 || Date.now() > deadline) return families;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The alerts the API lists, once none is still pending or retrying (bounded). */
async function settledAlerts(h: AlertHarness) {
  for (const deadline = Date.now() + 10_000; ; ) {
    const alerts = await h.alertsApi();
    if (alerts.every((a) => a.state !== 'pending' && a.state !== 'retrying') || Date.now() > deadline) return alerts;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The family a series name belongs to (a histogram's _bucket, _sum and _count are its own). */
function familyOf(families: Map<string, MetricFamily>, series: string): MetricFamily | undefined {
  if (families.has(series)) return families.get(series);
  const base = series.replace(/_(bucket|sum|count)$/, '');
  const f = families.get(base);
  return f && (f.type === 'histogram' || f.type === 'summary') ? f : undefined;
}

/** What an expression reads that /metrics does not have: unknown metrics, labels and route values. */
function problems(families: Map<string, MetricFamily>, expr: string): string[] {
  const out: string[] = [];
  const reads = readExpr(expr);
  const labelsOf = (series: string): Set<string> | null => {
    if (recorded.has(series)) return null; // a recorded series has whatever labels its rule keeps
    if (SCRAPE_SERIES.has(series)) return new Set(TARGET_LABELS);
    const f = familyOf(families, series);
    if (!f) return new Set();
    const labels = new Set([...TARGET_LABELS, ...f.samples.flatMap((s) => Object.keys(s.labels))]);
    if (series.endsWith('_bucket')) labels.add('le');
    return labels;
  };
  const routes = new Set(families.get('siprec_http_requests_total')?.samples.map((s) => s.labels.route) ?? []);
  const available = new Set<string>();
  for (const { metric, matchers } of reads.selectors) {
    if (!recorded.has(metric) && !SCRAPE_SERIES.has(metric) && !familyOf(families, metric)) {
      out.push(`${metric} is not in /metrics`);
      continue;
    }
    const labels = labelsOf(metric);
    if (labels === null) continue;
    labels.forEach((l) => available.add(l));
    for (const m of matchers) {
      if (!labels.has(m.label)) out.push(`${metric} has no label ${m.label}`);
      if (m.label === 'route' && m.op === '=' && !routes.has(m.value)) out.push(`${metric}{route="${m.value}"}: no such route in /metrics (${[...routes].join(', ')})`);
    }
  }
  const anyRecorded = reads.selectors.some((s) => recorded.has(s.metric));
  if (!anyRecorded) for (const l of reads.grouping) if (!available.has(l)) out.push(`groups by ${l}, which none of its metrics has`);
  return out;
}

describe('deploy/prometheus and deploy/grafana against a running siprec-control', () => {
  let h: AlertHarness;
  let families: Map<string, MetricFamily>;
  beforeAll(async () => {
    h = await startAlertHarness();
    families = await scrapeAfterTraffic(h);
  });
  afterAll(() => h.close());

  it('the traffic gave every siprec_ metric a sample, so that its labels can be checked', () => {
    const siprec = [...families.values()].filter((f) => f.name.startsWith('siprec_'));
    expect(siprec.length).toBeGreaterThanOrEqual(8);
    expect(siprec.filter((f) => f.samples.length === 0).map((f) => f.name)).toEqual([]);
  });

  it('the rules file has named groups, and each rule records or alerts, with severity and summary for alerts', () => {
    expect(new Set(rulesFile.groups.map((g) => g.name)).size).toBe(rulesFile.groups.length);
    for (const r of rules) {
      expect({ rule: r.record ?? r.alert, kinds: [r.record, r.alert].filter(Boolean).length, expr: typeof r.expr }).toEqual({ rule: r.record ?? r.alert, kinds: 1, expr: 'string' });
      if (r.record) expect(r.record).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
      if (r.alert) {
        expect({ alert: r.alert, severity: r.labels?.severity }).toEqual({ alert: r.alert, severity: expect.stringMatching(/^(critical|warning)$/) });
        expect(r.annotations?.summary).toEqual(expect.any(String));
        if (r.for !== undefined) expect(r.for).toMatch(/^\d+[smhd]$/);
      }
    }
  });

  it('every metric and label a rule reads is in /metrics', () => {
    const found = rules.flatMap((r) => problems(families, r.expr).map((p) => `${r.record ?? r.alert}: ${p}`));
    expect(found).toEqual([]);
  });

  it('alerts on the two silent failures the README names', () => {
    const exprs = rules.filter((r) => r.alert).map((r) => r.expr).join('\n');
    expect(exprs).toContain('increase(siprec_ledger_write_failures_total[5m]) > 0');
    expect(exprs).toMatch(/siprec_alert_deliveries_total\{outcome="gave_up"\}\[1h\]/);
  });

  it('every metric and label a dashboard panel or variable reads is in /metrics', () => {
    const found = [
      ...panelExprs.flatMap(({ where, expr }) => problems(families, expr).map((p) => `${where}: ${p}`)),
      ...variableQueries.flatMap(({ name, query }) => {
        const m = /^label_values\((.+),\s*([a-zA-Z_]\w*)\)$/.exec(query);
        if (!m) return [`variable ${name}: not label_values(<selector>, <label>)`];
        return problems(families, `sum by (${m[2]}) (${m[1]})`).map((p) => `variable ${name}: ${p}`);
      }),
    ];
    expect(panelExprs.length).toBeGreaterThan(10);
    expect(found).toEqual([]);
  });

  it('the dashboard shows every siprec_ metric, from the data source variable, with only variables it defines', () => {
    const shown = new Set(panelExprs.flatMap(({ expr }) => readExpr(expr).selectors.map((s) => familyOf(families, s.metric)?.name)));
    expect([...families.keys()].filter((n) => n.startsWith('siprec_') && !shown.has(n))).toEqual([]);
    const defined = new Set(dashboard.templating.list.map((v) => v.name));
    const used = new Set(JSON.stringify(dashboard).match(/\$\{?([a-zA-Z]\w*)/g)!.map((v) => v.replace(/^\$\{?/, '')));
    expect([...used].filter((v) => !defined.has(v))).toEqual([]);
    for (const p of panels.filter((p) => p.type !== 'row')) expect({ panel: p.title, uid: p.datasource?.uid }).toEqual({ panel: p.title, uid: '${datasource}' });
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  });
});

describe('deploy/alert-receiver/server.js', () => {
  let receiver: Child;
  let url: string;
  beforeAll(async () => {
    receiver = startChild(process.execPath, [path.join(DEPLOY, 'alert-receiver', 'server.js')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ALERT_WEBHOOK_SECRET: ALERT_SECRET, PORT: '0', HOST: '127.0.0.1' },
    });
    [, url] = (await receiver.waitFor(/alert-receiver listening on (http:\/\/\S+)/)) as unknown as [string, string];
  });
  afterAll(async () => {
    receiver.kill();
    await receiver.closed;
  });

  const post = (body: string, headers: Record<string, string>) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then(async (r) => ({ status: r.status, text: (await r.text()).trim() }));
  const acceptedLines = (id: string) => receiver.output().split('\n').filter((l) => l.includes(`"accepted":"${id}"`));

  it("accepts the app's genuine delivery: the alert is marked delivered and printed once", async () => {
    const h = await startAlertHarness({ webhook: false, env: { ALERT_WEBHOOK_URL: url, ALERT_WEBHOOK_SECRET: ALERT_SECRET } });
    try {
      await h.postError(await h.answeredCall(), 'gridspace');
      await h.dispatch();
      const [alert] = await settledAlerts(h);
      expect(alert).toMatchObject({ kind: 'siprec-error', state: 'delivered', attempts: 1 });
      await receiver.waitFor(/"accepted":"[0-9a-f]{32}","kind":"siprec-error","severity":"error"/);
    } finally {
      await h.close();
    }
  });

  describe('with a delivery captured on its way', () => {
    let h: AlertHarness;
    let raw: string;
    let headers: Record<string, string>;
    let id: string;
    beforeAll(async () => {
      h = await startAlertHarness(); // delivers to the test's recording receiver, whose copy we replay
      await h.postError(await h.answeredCall(), 'gridspace');
      const [captured] = await (async () => {
        await h.dispatch();
        return h.receiver.waitForAccepted(1);
      })();
      raw = captured!.raw;
      headers = Object.fromEntries(
        ['x-siprec-control-timestamp', 'x-siprec-control-signature', 'x-siprec-control-alert-id'].map((k) => [k, String(captured!.headers[k])]),
      );
      id = headers['x-siprec-control-alert-id']!;
    });
    afterAll(() => h.close());

    it('accepts it, refuses it sent again unchanged (a replay), and acknowledges a retry without handling it twice', async () => {
      expect(await post(raw, headers)).toEqual({ status: 200, text: 'ok' });
      expect(await post(raw, headers)).toEqual({ status: 409, text: 'replayed: this signed request was received before' });
      // A retry, as the app sends it: the same alert id, signed again at a later second.
      const retry = { ...headers, ...lower(signatureHeaders(ALERT_SECRET, raw, Date.now() + 1000)) };
      expect(await post(raw, retry)).toEqual({ status: 200, text: 'duplicate: already handled' });
      expect(acceptedLines(id)).toHaveLength(1);
    });

    it.each([
      // Each signed at its own second, inside the 5 minutes, so that no other test signed the same.
      ['in capitals', 100_000, (s: string) => s.toUpperCase()],
      ['with trailing characters that are not hex', 200_000, (s: string) => `${s}zz`],
    ])('refuses a replay whose signature is written %s (the same HMAC), and handles nothing', async (_how, ahead, respell) => {
      const fresh: Record<string, string> = { ...headers, ...lower(signatureHeaders(ALERT_SECRET, raw, Date.now() + ahead)), 'x-siprec-control-alert-id': '' };
      expect((await post(raw, fresh)).status).toBe(200);
      const before = receiver.output();
      const replay = { ...fresh, 'x-siprec-control-signature': respell(fresh['x-siprec-control-signature']!) };
      expect((await post(raw, replay)).status).not.toBe(200);
      expect(receiver.output()).toBe(before);
    });

    it.each([
      ['a changed body', () => ({ body: raw.replace('gridspace', 'gridspacf'), headers })],
      ['a signature made with another secret', () => ({ body: raw, headers: { ...headers, ...lower(signatureHeaders('another-secret-0123456789', raw, Date.now())) } })],
      ['no signature', () => ({ body: raw, headers: { 'x-siprec-control-alert-id': headers['x-siprec-control-alert-id']! } })],
      ['a genuine signature older than 5 minutes (a replay after the window)', () => ({ body: raw, headers: { ...headers, ...lower(signatureHeaders(ALERT_SECRET, raw, Date.now() - 301_000)) } })],
      ['a timestamp moved without re-signing', () => ({ body: raw, headers: { ...headers, 'x-siprec-control-timestamp': String(Number(headers['x-siprec-control-timestamp']) + 1) } })],
    ])('refuses %s with 401 and handles nothing', async (_what, make) => {
      const before = receiver.output();
      const { body, headers: h2 } = make();
      expect(await post(body, h2)).toEqual({ status: 401, text: 'signature or timestamp refused' });
      expect(receiver.output()).toBe(before);
    });
  });
});

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}
