// DOM and formatting helpers. Every piece of data reaches the page as a Text node or an attribute
// value set through the DOM, never as markup: a caller ID or SiprecName like `<img onerror=…>` stays text.

/**
 * Creates an element. String children become Text nodes. Attributes go through setAttribute, and
 * `on…` attributes are refused: handlers are attached with addEventListener (CSP forbids inline ones).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (/^on/i.test(key)) throw new Error(`h(): use addEventListener, not the ${key} attribute`);
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const byId = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id} in index.html`);
  return el;
};

export const STATE_LABELS = { requested: 'Requested', active: 'Active', failed: 'Failed', stopped: 'Stopped' };

/** Colour and text together: the badge reads the same without colour. */
export function stateBadge(state, stopRequestedAt) {
  const known = Object.hasOwn(STATE_LABELS, state);
  const badge = h('span', { class: `badge badge-${known ? state : 'unknown'}` }, h('span', { class: 'badge-dot', 'aria-hidden': 'true' }), known ? STATE_LABELS[state] : String(state));
  if (stopRequestedAt && (state === 'requested' || state === 'active')) {
    return h('span', { class: 'state-stack' }, badge, h('span', { class: 'stop-note' }, 'stop requested'));
  }
  return badge;
}

// Times show their zone: the browser's own, or UTC when the page is switched to it (?tz=utc).
// Intl does the zone work; the page never adds or subtracts offsets itself.
let zone = undefined;
let formats;
function buildFormats() {
  // 24-hour clock: shorter in the table, and what call-centre logs and Twilio's Console use.
  const base = { timeZone: zone, timeZoneName: 'short', hourCycle: 'h23' };
  formats = {
    time: new Intl.DateTimeFormat(undefined, { ...base, hour: '2-digit', minute: '2-digit', second: '2-digit' }),
    dateTime: new Intl.DateTimeFormat(undefined, { ...base, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' }),
    full: new Intl.DateTimeFormat(undefined, { timeZone: zone, dateStyle: 'full', timeStyle: 'long' }),
    day: new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }),
  };
}
buildFormats();

/** 'utc' or 'local'. Already rendered times keep their old zone until they are drawn again. */
export function setTimeZone(which) {
  zone = which === 'utc' ? 'UTC' : undefined;
  buildFormats();
}
export const timeZoneLabel = () => (zone === 'UTC' ? 'UTC' : new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' }).formatToParts(new Date()).find((p) => p.type === 'timeZoneName')?.value ?? 'local time');

export function formatClock(date) {
  return formats.time.format(date);
}

/** A <time> showing the time in the page's zone (with the date unless it is today there); the full time is in its tooltip. */
export function timeEl(isoString, now = new Date()) {
  if (!isoString) return h('span', { class: 'muted' }, '—');
  const date = new Date(isoString);
  if (Number.isNaN(date.getTime())) return h('span', {}, isoString);
  const sameDay = formats.day.format(date) === formats.day.format(now);
  return h('time', { datetime: isoString, title: formats.full.format(date) }, sameDay ? formats.time.format(date) : formats.dateTime.format(date));
}

export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/**
 * Stopped sessions last from start to stop; active ones are still running, and their count is kept
 * going by tickRunning() (every second), wherever they are shown.
 */
export function sessionDuration(session, now = Date.now()) {
  if (!session.startedAt) return h('span', { class: 'muted' }, '—');
  const start = Date.parse(session.startedAt);
  if (session.stoppedAt) return h('span', { class: 'nowrap' }, formatDuration(Date.parse(session.stoppedAt) - start));
  if (session.state === 'active') {
    return h('span', { class: 'running' }, h('span', { class: 'nowrap', dataset: { since: String(start) } }, formatDuration(now - start)), ' so far');
  }
  return h('span', { class: 'muted' }, '—');
}

/** Moves every running duration on the page to `now`, touching only the text that changes. */
export function tickRunning(now = Date.now()) {
  for (const el of document.querySelectorAll('[data-since]')) {
    const text = formatDuration(now - Number(el.dataset.since));
    if (el.firstChild instanceof Text) {
      if (el.firstChild.data !== text) el.firstChild.data = text;
    } else el.textContent = text;
  }
}

export const orDash = (value) => (value === null || value === undefined || value === '' ? h('span', { class: 'muted' }, '—') : String(value));

export function fromTo(from, to) {
  return h(
    'span',
    { class: 'from-to' },
    h('span', {}, orDash(from)),
    h('span', {}, h('span', { class: 'arrow', 'aria-hidden': 'true' }, ' → '), h('span', { class: 'visually-hidden' }, ' to '), orDash(to)),
  );
}

export function errorCell(code, message) {
  if (!code && !message) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'error-text' }, code ? h('strong', { class: 'error-code' }, String(code)) : null, code && message ? ' ' : null, message ? String(message) : null);
}

export const isOpen = (session) => session.state === 'requested' || session.state === 'active';
