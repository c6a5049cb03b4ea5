// The header tiles and the per-connector summary: health at a glance from GET /api/stats,
// GET /api/connectors and GET /readyz. Each part is redrawn only when what it shows changed, so a
// focused link in a tile survives a refresh.
import { byId, errorCell, formatDuration, h, timeEl } from './dom.js';

const drawn = new Map();
/** Redraws `id` with `draw()` unless `key` is what it already shows. */
function once(id, key, draw) {
  const k = JSON.stringify(key);
  if (drawn.get(id) === k) return;
  drawn.set(id, k);
  draw(byId(id));
}

function setValue(id, value, tone) {
  once(id, [value, tone], (el) => {
    el.textContent = String(value);
    el.dataset.tone = tone ?? '';
  });
}

/** A link that opens a call's detail, from anywhere on the page. */
function callLink(callSid, handlers, text = callSid) {
  const a = h('a', { class: 'mono', href: `#call=${callSid}` }, text);
  a.addEventListener('click', (event) => {
    event.preventDefault();
    handlers.onOpen(callSid, a);
  });
  return a;
}

function renderLatestError(latest, handlers, zoneKey) {
  once('stat-error', [latest, zoneKey], (box) => {
    if (!latest) return box.replaceChildren(h('span', { class: 'tile-value', 'data-tone': 'good' }, 'None'));
    box.replaceChildren(
      h('p', { class: 'tile-error' }, errorCell(latest.errorCode, latest.errorMessage)),
      h('p', { class: 'tile-meta' }, callLink(latest.callSid, handlers), ' · ', latest.name, latest.connectorName ? ` (${latest.connectorName})` : '', ' · ', timeEl(latest.at)),
    );
  });
}

function renderStuck(stuck, handlers, zoneKey) {
  once('stat-stuck', [stuck, zoneKey], (box) => {
    if (!stuck) return box.replaceChildren(h('span', { class: 'tile-value', 'data-tone': 'unknown' }, '?'));
    const value = h('span', { class: 'tile-value', 'data-tone': stuck.count > 0 ? 'bad' : '' }, String(stuck.count));
    const meta = h('p', { class: 'tile-meta' }, `requested over ${formatDuration(stuck.olderThanSeconds * 1000)} ago, no start yet`);
    const oldest = stuck.oldest
      ? h('p', { class: 'tile-meta' }, 'oldest: ', callLink(stuck.oldest.callSid, handlers, stuck.oldest.name), ' since ', timeEl(stuck.oldest.requestedAt))
      : null;
    box.replaceChildren(...[value, meta, oldest].filter(Boolean));
  });
}

export function renderStats(stats, handlers, zoneKey) {
  setValue('stat-active', stats.sessionsByState.active, stats.sessionsByState.active > 0 ? 'good' : '');
  setValue('stat-started', stats.startedLastHour);
  setValue('stat-failed', stats.failedLastHour, stats.failedLastHour > 0 ? 'bad' : '');
  renderLatestError(stats.latestErrors[0] ?? null, handlers, zoneKey);
}

export function renderStatsError() {
  for (const id of ['stat-active', 'stat-started', 'stat-failed']) setValue(id, '?', 'unknown');
  once('stat-error', '?', (box) => box.replaceChildren(h('span', { class: 'tile-value', 'data-tone': 'unknown' }, '?')));
}

/** true: ready; false: the server says no; null: the server did not answer. */
export function renderReady(ready) {
  if (ready === true) setValue('stat-db', 'Ready', 'good');
  else if (ready === false) setValue('stat-db', 'Not ready', 'bad');
  else setValue('stat-db', 'Unreachable', 'bad');
}

function connectorRow(c, handlers) {
  const last = c.lastError;
  return h(
    'tr',
    {},
    h('th', { scope: 'row', 'data-label': 'Connector' }, c.connectorName ?? h('span', { class: 'muted' }, '(none)')),
    h('td', { 'data-label': 'Open' }, String(c.open)),
    h('td', { 'data-label': 'Failed · last hour', 'data-tone': c.failedLastHour > 0 ? 'bad' : '' }, String(c.failedLastHour)),
    h(
      'td',
      { 'data-label': 'Last error' },
      last
        ? h('span', { class: 'connector-error' }, errorCell(last.errorCode, last.errorMessage), ' · ', callLink(last.callSid, handlers, last.name), ' · ', timeEl(last.at))
        : h('span', { class: 'muted' }, '—'),
    ),
  );
}

/** GET /api/overview: the stuck tile and the per-connector summary. */
export function renderOverview(overview, handlers, zoneKey) {
  renderStuck(overview.stuckRequested, handlers, zoneKey);
  const { connectors } = overview;
  once('connectors-body', [connectors, zoneKey], (body) => body.replaceChildren(...connectors.map((c) => connectorRow(c, handlers))));
  once('connectors-status', connectors.length === 0, (box) => {
    box.textContent = connectors.length === 0 ? 'No connector has open sessions or errors in the last day.' : '';
  });
}

export function renderOverviewError() {
  renderStuck(null);
  once('connectors-status', 'error', (box) => (box.textContent = 'Could not load the connector summary; retrying with the next refresh.'));
}
