// The status page: filters and paging live in the URL, a refresh every few seconds redraws the
// health tiles, the table and an open call detail, and pauses while the tab is hidden.
import { advice, ApiError, getReady, getStats, listSessions } from './api.js';
import { callSidFromHash, initDetail, openDetail, refreshDetail } from './detail.js';
import { byId, formatClock, h } from './dom.js';
import { renderReady, renderStats, renderStatsError } from './health.js';
import { initStartForm } from './start-form.js';
import { askToStop, initStopDialog } from './stop.js';
import { renderSessions, renderTableStatus } from './table.js';

const CALL_SID = /^CA[0-9a-f]{32}$/;
const STATES = ['requested', 'active', 'failed', 'stopped'];

const params = new URLSearchParams(location.search);
const clampInt = (raw, min, max, fallback) => {
  const n = Number.parseInt(raw ?? '', 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
};

const view = {
  filters: {
    state: STATES.includes(params.get('state')) ? params.get('state') : '',
    connectorName: params.get('connectorName') ?? '',
    callSid: CALL_SID.test(params.get('callSid') ?? '') ? params.get('callSid') : '',
  },
  // ?limit= and ?refresh= (seconds) are for operators who want more rows or a calmer page.
  limit: clampInt(params.get('limit'), 1, 500, 50),
  refreshMs: clampInt(params.get('refresh'), 1, 300, 5) * 1000,
  // The cursor that opened each page visited; the last one is the page shown.
  cursors: [null],
  nextCursor: null,
  lastGood: null,
  seq: 0,
  timer: null,
};
const knownConnectors = new Set();

function syncUrl() {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(view.filters)) if (v) q.set(k, v);
  if (params.has('limit')) q.set('limit', String(view.limit));
  if (params.has('refresh')) q.set('refresh', String(view.refreshMs / 1000));
  const search = q.size ? `?${q}` : '';
  history.replaceState(null, '', `${location.pathname}${search}${location.hash}`);
}

function showFilters() {
  byId('filter-state').value = view.filters.state;
  byId('filter-connector').value = view.filters.connectorName;
  byId('filter-call').value = view.filters.callSid;
}

function rememberConnectors(names) {
  const before = knownConnectors.size;
  for (const n of names) if (n) knownConnectors.add(n);
  if (knownConnectors.size === before) return;
  byId('known-connectors').replaceChildren(...[...knownConnectors].sort().map((n) => h('option', { value: n })));
}

/** "Updated 12:04:05": the <time> carries the exact instant, which also tells a test a refresh landed. */
function setUpdated(prefix, date, suffix = '', tone = '') {
  const el = byId('updated');
  el.replaceChildren(prefix, date ? h('time', { datetime: date.toISOString() }, formatClock(date)) : '', suffix);
  el.dataset.tone = tone;
}

function renderPager() {
  const page = view.cursors.length;
  byId('page-newer').disabled = page === 1;
  byId('page-older').disabled = !view.nextCursor;
  byId('page-label').textContent = `Page ${page}`;
  byId('page-newer').closest('nav').hidden = page === 1 && !view.nextCursor;
}

const handlers = {
  onOpen: (callSid) => void openDetail(callSid),
  onStop: (session) => askToStop(session),
};

function renderSessionsResult(result) {
  const filtered = Object.values(view.filters).some(Boolean);
  view.nextCursor = result.value.nextCursor;
  renderSessions(result.value.sessions, handlers);
  rememberConnectors(result.value.sessions.map((s) => s.connectorName));
  if (result.value.sessions.length > 0) renderTableStatus(null);
  else renderTableStatus(filtered || view.cursors.length > 1 ? 'no-match' : 'empty');
  renderPager();
}

// Refused credentials (the token was rotated, say) do not come right by asking again, and every
// refusal counts toward the server's lock-out of this address: stop polling until a reload.
const isSignedOut = (err) => err instanceof ApiError && err.status === 401;

function renderSessionsFailure(err) {
  if (err instanceof ApiError && err.status === 400 && view.cursors.length > 1) {
    // A cursor from before a database reset, say: start again from the newest page.
    view.cursors = [null];
    return void refresh();
  }
  const since = view.lastGood ? ` Showing what was loaded at ${formatClock(view.lastGood)}.` : '';
  const retry = isSignedOut(err) ? '' : ` Retrying every ${view.refreshMs / 1000} s.`;
  renderTableStatus('error', `Could not load sessions: ${err.message}`, `${advice(err)}${since}${retry}`.trim());
}


async function refresh() {
  clearTimeout(view.timer);
  const seq = ++view.seq;
  const query = { ...view.filters, limit: view.limit, cursor: view.cursors.at(-1) };
  const [sessions, stats, ready] = await Promise.allSettled([listSessions(query), getStats(), getReady()]);
  // A filter change started a newer refresh while this one was waiting: its answer wins.
  if (seq !== view.seq) return;

  if (sessions.status === 'fulfilled') renderSessionsResult(sessions);
  else renderSessionsFailure(sessions.reason);
  if (stats.status === 'fulfilled') {
    renderStats(stats.value);
    rememberConnectors(stats.value.latestErrors.map((e) => e.connectorName));
  } else renderStatsError();
  renderReady(ready.status === 'fulfilled' ? ready.value : null);

  const now = new Date();
  if (sessions.status === 'fulfilled' && stats.status === 'fulfilled') {
    view.lastGood = now;
    setUpdated('Updated ', now, ` · every ${view.refreshMs / 1000} s`);
  } else {
    setUpdated('Update failed at ', now, view.lastGood ? ` · last good ${formatClock(view.lastGood)}` : '', 'bad');
  }
  if ([sessions, stats].some((r) => r.status === 'rejected' && isSignedOut(r.reason))) {
    setUpdated('Signed out at ', now, ' · reload the page to sign in; refreshing has stopped', 'bad');
    return;
  }
  await refreshDetail();
  if (seq === view.seq) schedule();
}

function schedule() {
  clearTimeout(view.timer);
  if (document.visibilityState === 'visible') view.timer = setTimeout(refresh, view.refreshMs);
  else setUpdated('Paused while the tab is hidden', null, view.lastGood ? ` · last updated ${formatClock(view.lastGood)}` : '');
}

function applyFilters() {
  const hint = byId('filter-call-hint');
  const callInput = byId('filter-call');
  const raw = callInput.value.trim();
  // Twilio's SIDs are lower-case hex; accept a pasted upper-case one.
  const callSid = raw ? `CA${raw.slice(2).toLowerCase()}` : '';
  if (raw && !CALL_SID.test(callSid)) {
    hint.textContent = 'A Call SID is CA followed by 32 hex digits, e.g. CA0123456789abcdef0123456789abcdef.';
    hint.hidden = false;
    callInput.setAttribute('aria-invalid', 'true');
    return;
  }
  hint.hidden = true;
  callInput.removeAttribute('aria-invalid');
  view.filters = { state: byId('filter-state').value, connectorName: byId('filter-connector').value.trim(), callSid };
  view.cursors = [null];
  showFilters();
  syncUrl();
  void refresh();
}

function init() {
  showFilters();
  renderTableStatus('loading');
  byId('page-newer').closest('nav').hidden = true;

  const form = byId('filters');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    applyFilters();
  });
  byId('filter-state').addEventListener('change', applyFilters);
  byId('filter-connector').addEventListener('change', applyFilters);
  byId('filter-clear').addEventListener('click', () => {
    form.reset();
    applyFilters();
  });
  byId('refresh-now').addEventListener('click', () => void refresh());
  byId('page-older').addEventListener('click', () => {
    if (!view.nextCursor) return;
    view.cursors.push(view.nextCursor);
    void refresh().then(() => byId('sessions-heading').focus());
  });
  byId('page-newer').addEventListener('click', () => {
    if (view.cursors.length > 1) view.cursors.pop();
    void refresh().then(() => byId('sessions-heading').focus());
  });

  // A hidden tab polls nothing; coming back refreshes at once.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void refresh();
    else schedule();
  });

  initStopDialog(() => void refresh());
  initStartForm(() => void refresh());
  initDetail(handlers);

  void refresh();
  const linked = callSidFromHash();
  if (linked) void openDetail(linked);
}

init();
