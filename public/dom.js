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

const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTime = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });

export function formatClock(date) {
  return timeOnly.format(date);
}

/** A <time> showing the local time (with the date unless it is today); the full time is in its tooltip. */
export function timeEl(isoString, now = new Date()) {
  if (!isoString) return h('span', { class: 'muted' }, '—');
  const date = new Date(isoString);
  if (Number.isNaN(date.getTime())) return h('span', {}, isoString);
  const sameDay = date.toDateString() === now.toDateString();
  return h('time', { datetime: isoString, title: full.format(date) }, sameDay ? timeOnly.format(date) : dateTime.format(date));
}

export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** Stopped sessions last from start to stop; open ones are still running. */
export function sessionDuration(session, now = Date.now()) {
  if (!session.startedAt) return h('span', { class: 'muted' }, '—');
  const start = Date.parse(session.startedAt);
  if (session.stoppedAt) return h('span', { class: 'nowrap' }, formatDuration(Date.parse(session.stoppedAt) - start));
  if (session.state === 'active') return h('span', { class: 'running' }, h('span', { class: 'nowrap' }, formatDuration(now - start)), ' so far');
  return h('span', { class: 'muted' }, '—');
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
