// The status page: filters, the page number and the time zone live in the URL; a refresh every few
// seconds redraws the health tiles, the connectors, the table and an open call detail, one refresh
// at a time and each request with a deadline, and pauses while the tab is hidden.
import { advice, ApiError, getOverview, getReady, getStats, isAborted, listSessions } from './api.js';
import { callSidFromHash, initDetail, openDetail, refreshDetail } from './detail.js';
import { byId, setTimeZone, tickRunning, timeZoneLabel } from './dom.js';
import { anyFilter, filtersFromUrl, filtersToQuery, filtersToUrl, initFilters, readFilters, showFilters, showPhoneSearch } from './filters.js';
import { announce, createFreshness } from './freshness.js';
import { renderOverview, renderOverviewError, renderReady, renderStats, renderStatsError } from './health.js';
import { initStartForm } from './start-form.js';
import { askToStop, initStopDialog } from './stop.js';
import { initTable, markTable, renderSessions, renderTableStatus, rowFocusTarget, rowKey } from './table.js';

const params = new URLSearchParams(location.search);
const clampInt = (raw, min, max, fallback) => {
  const n = Number.parseInt(raw ?? '', 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
};
// The cursors of the pages before the one shown, for "← Newer" after a reload (same tab only).
const PAGES_KEY = 'siprec-status.pages';
const UNKNOWN = '?';

const refreshMs = clampInt(params.get('refresh'), 1, 300, 5) * 1000;
const view = {
  filters: filtersFromUrl(params),
  utc: params.get('tz') === 'utc',
  // ?limit= and ?refresh= (seconds) are for operators who want more rows or a calmer page.
  limit: clampInt(params.get('limit'), 1, 500, 50),
  refreshMs,
  // A read that takes longer than this has failed; the next refresh tries again.
  deadlineMs: Math.min(20_000, Math.max(4_000, 2 * refreshMs)),
  // The cursor that opened each page visited; the last one is the page shown.
  cursors: restorePages(),
  nextCursor: null,
  signedOut: false,
  inflight: null,
  controller: null,
  again: false,
  timer: null,
  announceResult: false,
  latestError: undefined,
};
const freshness = createFreshness(refreshMs);
const knownConnectors = new Set();

function restorePages() {
  const page = clampInt(params.get('page'), 1, 100_000, 1);
  const cursor = params.get('cursor');
  if (page === 1 || !cursor) return [null];
  try {
    const saved = JSON.parse(sessionStorage.getItem(PAGES_KEY) ?? 'null');
    if (Array.isArray(saved) && saved.length === page && saved.at(-1) === cursor) return saved;
  } catch {
    // Nothing usable saved: the pages before this one are fetched again if asked for.
  }
  return [null, ...Array(page - 2).fill(UNKNOWN), cursor];
}

function syncUrl() {
  const q = new URLSearchParams();
  filtersToUrl(view.filters, q);
  if (view.utc) q.set('tz', 'utc');
  if (view.cursors.length > 1) {
    q.set('page', String(view.cursors.length));
    q.set('cursor', view.cursors.at(-1));
    sessionStorage.setItem(PAGES_KEY, JSON.stringify(view.cursors));
  }
  if (params.has('limit')) q.set('limit', String(view.limit));
  if (params.has('refresh')) q.set('refresh', String(view.refreshMs / 1000));
  const search = q.size ? `?${q}` : '';
  history.replaceState(null, '', `${location.pathname}${search}${location.hash}`);
}

function rememberConnectors(names) {
  const before = knownConnectors.size;
  for (const n of names) if (n) knownConnectors.add(n);
  if (knownConnectors.size === before) return;
  const list = byId('known-connectors');
  list.replaceChildren(...[...knownConnectors].sort().map((n) => Object.assign(document.createElement('option'), { value: n })));
}

function renderPager() {
  const page = view.cursors.length;
  const newer = byId('page-newer');
  newer.disabled = page === 1;
  newer.textContent = view.cursors.at(-2) === UNKNOWN ? '← Newest' : '← Newer';
  byId('page-older').disabled = !view.nextCursor;
  byId('page-label').textContent = `Page ${page}`;
  newer.closest('nav').hidden = page === 1 && !view.nextCursor;
}

// Times are drawn again when the zone is switched, and at midnight (when "today" loses its date).
const zoneKey = () => `${view.utc}/${new Date().toDateString()}`;

const count = new Intl.NumberFormat();
function renderTotal(total) {
  const label = typeof total === 'number' ? `${count.format(total)} ${total === 1 ? 'session' : 'sessions'} · ` : '';
  const el = byId('sessions-total');
  if (el.textContent !== label) el.textContent = label;
  if (view.announceResult && typeof total === 'number') {
    view.announceResult = false;
    announce(total === 0 ? 'No sessions match these filters' : `${label.slice(0, -3)} match`);
  }
}

const handlers = {
  onOpen: (callSid, opener) => void openDetail(callSid, opener),
  onStop: (session, opener, fallback) =>
    askToStop(session, opener, fallback ?? (() => rowFocusTarget(rowKey(session)) ?? document.querySelector(`#sessions-body tr[data-call-sid="${session.callSid}"] .call-link`))),
};

function renderSessionsResult(value) {
  view.nextCursor = value.nextCursor;
  markTable(null);
  renderSessions(value.sessions, zoneKey());
  rememberConnectors(value.sessions.map((s) => s.connectorName));
  if (value.sessions.length > 0) renderTableStatus(null);
  else renderTableStatus(anyFilter(view.filters) || view.cursors.length > 1 ? 'no-match' : 'empty');
  renderTotal(value.total);
  renderPager();
}

// Refused credentials (the token was rotated, say) do not come right by asking again, and every
// refusal counts toward the server's lock-out of this address: stop until a reload.
const isSignedOut = (err) => err instanceof ApiError && (err.status === 401 || err.status === 429);

function renderSessionsFailure(err) {
  if (err instanceof ApiError && err.status === 400 && view.cursors.length > 1) {
    // A cursor from before a database reset, say: start again from the newest page.
    view.cursors = [null];
    syncUrl();
    return void queueMicrotask(() => void refresh({ restart: true }));
  }
  const lastGood = freshness.lastGood();
  const since = lastGood ? ' The rows below are what was loaded before.' : '';
  const retry = isSignedOut(err) ? '' : ` Retrying every ${view.refreshMs / 1000} s.`;
  markTable('stale');
  renderTableStatus('error', `Could not load sessions: ${err.message}`, `${advice(err)}${since}${retry}`.trim());
}

function signOut() {
  view.signedOut = true;
  clearTimeout(view.timer);
  freshness.signedOut();
  const button = byId('refresh-now');
  const hadFocus = document.activeElement === button;
  button.disabled = true;
  const reload = byId('reload');
  reload.hidden = false;
  if (hadFocus) reload.focus();
}

function noteLatestError(latest) {
  const key = latest ? `${latest.callSid}/${latest.name}/${latest.at}` : null;
  if (view.latestError !== undefined && key && key !== view.latestError) {
    announce(`New SIPREC error on ${latest.name}${latest.connectorName ? ` (${latest.connectorName})` : ''}: ${[latest.errorCode, latest.errorMessage].filter(Boolean).join(' ')}`);
  }
  view.latestError = key;
}

async function runRefresh(controller) {
  const opts = { signal: controller.signal, deadlineMs: view.deadlineMs };
  const query = { ...filtersToQuery(view.filters), limit: view.limit, cursor: view.cursors.at(-1), withTotal: true };
  const [sessions, stats, overview, ready] = await Promise.allSettled([listSessions(query, opts), getStats(opts), getOverview(opts), getReady(opts)]);
  // A filter change replaced this refresh while it waited: the newer one draws.
  if (controller.signal.aborted) return;

  if (sessions.status === 'fulfilled') renderSessionsResult(sessions.value);
  else if (!isAborted(sessions.reason)) renderSessionsFailure(sessions.reason);
  if (stats.status === 'fulfilled') {
    renderStats(stats.value, handlers, zoneKey());
    rememberConnectors(stats.value.latestErrors.map((e) => e.connectorName));
    noteLatestError(stats.value.latestErrors[0]);
  } else renderStatsError();
  if (overview.status === 'fulfilled') {
    renderOverview(overview.value, handlers, zoneKey());
    showPhoneSearch(overview.value.search.phone);
  } else renderOverviewError();
  renderReady(ready.status === 'fulfilled' ? ready.value : null);

  if ([sessions, stats, overview].some((r) => r.status === 'rejected' && isSignedOut(r.reason))) return signOut();
  const ok = sessions.status === 'fulfilled' && stats.status === 'fulfilled';
  if (ok) freshness.good();
  else freshness.failed();
  await refreshDetail(opts);
  return ok;
}

/**
 * One refresh at a time. While one is waiting, another request for one only asks for a new round
 * once it ends; `restart` (a filter or page change) abandons the one waiting, whose answer is no
 * longer wanted, so its connections are freed at once.
 */
function refresh({ restart = false } = {}) {
  if (view.signedOut) return Promise.resolve();
  if (view.inflight && !restart) {
    view.again = true;
    return view.inflight;
  }
  view.controller?.abort();
  clearTimeout(view.timer);
  view.again = false;
  const controller = new AbortController();
  view.controller = controller;
  let ok = false;
  const run = runRefresh(controller)
    .then((answered) => void (ok = answered === true))
    .finally(() => {
      if (view.controller !== controller) return;
      view.inflight = null;
      view.controller = null;
      // A click during a refresh that failed waits for the next period: asking a server that did
      // not answer again at once only adds to its queue.
      if (view.again && ok && !view.signedOut) void refresh();
      else schedule();
    });
  view.inflight = run;
  return run;
}

function schedule() {
  clearTimeout(view.timer);
  if (view.signedOut) return;
  if (document.visibilityState === 'visible') view.timer = setTimeout(refresh, view.refreshMs);
  else freshness.pause(true);
}

function showLoading() {
  markTable('loading');
  renderTableStatus('loading');
}

function applyFilters() {
  const filters = readFilters(view.utc);
  if (!filters) return;
  view.filters = filters;
  view.cursors = [null];
  view.announceResult = true;
  showFilters(view.filters, view.utc);
  syncUrl();
  showLoading();
  void refresh({ restart: true });
}

function goToPage(cursors) {
  view.cursors = cursors;
  syncUrl();
  showLoading();
  void refresh({ restart: true }).then(() => byId('sessions-heading').focus());
}

function showZone() {
  setTimeZone(view.utc ? 'utc' : 'local');
  const toggle = byId('tz-toggle');
  toggle.setAttribute('aria-pressed', String(view.utc));
  for (const el of document.querySelectorAll('.tz-name')) el.textContent = `(${timeZoneLabel()})`;
}

function init() {
  showZone();
  showFilters(view.filters, view.utc);
  renderTableStatus('loading');
  byId('page-newer').closest('nav').hidden = true;
  initFilters(applyFilters);
  initTable(handlers);

  byId('refresh-now').addEventListener('click', () => void refresh());
  byId('reload').addEventListener('click', () => location.reload());
  byId('tz-toggle').addEventListener('click', () => {
    view.utc = !view.utc;
    showZone();
    showFilters(view.filters, view.utc);
    syncUrl();
    freshness.render();
    void refresh();
  });
  byId('page-older').addEventListener('click', () => {
    if (view.nextCursor) goToPage([...view.cursors, view.nextCursor]);
  });
  byId('page-newer').addEventListener('click', () => {
    const previous = view.cursors.slice(0, -1);
    // After a reload in another tab the earlier cursors are unknown: go to the newest page.
    goToPage(previous.at(-1) === UNKNOWN || previous.length === 0 ? [null] : previous);
  });

  // A hidden tab polls nothing; coming back refreshes at once.
  document.addEventListener('visibilitychange', () => {
    if (view.signedOut) return;
    if (document.visibilityState === 'visible') {
      freshness.pause(false);
      void refresh();
    } else schedule();
  });
  // Staleness and running durations move on every second, whether or not a refresh lands.
  setInterval(() => {
    freshness.render();
    tickRunning();
  }, 1000);

  initStopDialog(() => void refresh());
  initStartForm(() => void refresh());
  initDetail(handlers);

  syncUrl();
  void refresh();
  const linked = callSidFromHash();
  if (linked) void openDetail(linked, null);
}

init();
