// The header tiles: health at a glance from GET /api/stats and GET /readyz.
import { byId, errorCell, h, timeEl } from './dom.js';

function setValue(id, value, tone) {
  const el = byId(id);
  el.textContent = String(value);
  el.dataset.tone = tone ?? '';
}

export function renderStats(stats) {
  setValue('stat-active', stats.sessionsByState.active, stats.sessionsByState.active > 0 ? 'good' : '');
  setValue('stat-started', stats.startedLastHour);
  setValue('stat-failed', stats.failedLastHour, stats.failedLastHour > 0 ? 'bad' : '');

  const latest = stats.latestErrors[0];
  const box = byId('stat-error');
  if (!latest) {
    box.replaceChildren(h('span', { class: 'tile-value', 'data-tone': 'good' }, 'None'));
    return;
  }
  box.replaceChildren(
    h('p', { class: 'tile-error' }, errorCell(latest.errorCode, latest.errorMessage)),
    h(
      'p',
      { class: 'tile-meta' },
      h('span', { class: 'mono' }, latest.callSid),
      ' · ',
      latest.name,
      latest.connectorName ? ` (${latest.connectorName})` : '',
      ' · ',
      timeEl(latest.at),
    ),
  );
}

export function renderStatsError() {
  for (const id of ['stat-active', 'stat-started', 'stat-failed']) setValue(id, '?', 'unknown');
  byId('stat-error').replaceChildren(h('span', { class: 'tile-value', 'data-tone': 'unknown' }, '?'));
}

/** true: ready; false: the server says no; null: the server did not answer. */
export function renderReady(ready) {
  if (ready === true) setValue('stat-db', 'Ready', 'good');
  else if (ready === false) setValue('stat-db', 'Not ready', 'bad');
  else setValue('stat-db', 'Unreachable', 'bad');
}
