// A call's detail in a modal <dialog>: its sessions, each session's event timeline with the raw
// payload on demand, Stop buttons, a link to the call in Twilio's Console, and the Start SIPREC
// form (start-form.js), offered only while the call may still be live.
import { advice, getCall, isAborted } from './api.js';
import { copyButton } from './copy.js';
import { byId, errorCell, formatDuration, fromTo, h, isOpen, orDash, sessionDuration, stateBadge, timeEl } from './dom.js';
import { resetStartForm, showStartForm } from './start-form.js';

let callSid = null;
let lastJson = '';
let opener = null;
let onStop = () => {};
// Which raw payloads are unfolded, so a refresh does not fold them back.
const openPayloads = new Set();

const when = (iso) => (Number.isNaN(Date.parse(iso)) ? Number.NaN : Date.parse(iso));

/**
 * Twilio's own timestamp orders the timeline; received time stands in when Twilio's does not parse.
 * The ledger's reading of it (occurredAt) is used, never Date.parse of the raw string, which would
 * roll an impossible date (30 February) over to another day.
 */
export function timelineOrder(events) {
  const key = (e) => when(e.occurredAt ?? e.receivedAt);
  return events.map((e, i) => ({ e, i })).sort((a, b) => key(a.e) - key(b.e) || a.i - b.i);
}

/** The call's log in Twilio's Console (a link only: the page never talks to Twilio itself). */
export function consoleUrl(sid) {
  const url = new URL('https://console.twilio.com/us1/monitor/logs/calls');
  url.searchParams.set('frameUrl', `/console/voice/calls/logs/${sid}`);
  return url.href;
}

function twilioTime(e) {
  const raw = e.timestamp;
  if (!e.occurredAt) return h('span', { title: 'Twilio\'s Timestamp, as sent (not a real date and time in a recognised format)' }, raw);
  const el = timeEl(e.occurredAt);
  el.title = `${el.title} · as sent: ${raw}`;
  return el;
}

/** Twilio's clock and ours disagreeing (the API flags a Timestamp over a day from its arrival) is worth seeing beside the times. */
function skewNote(e) {
  if (!e.timestampSkewed) return null;
  const apart = Math.abs(when(e.occurredAt) - when(e.receivedAt));
  const by = Number.isFinite(apart) ? ` by ${formatDuration(apart)}` : '';
  return h('p', { class: 'event-skew' }, `Twilio's Timestamp differs from when this callback arrived${by}: one of the clocks is wrong, so this event may be out of place in the order shown.`);
}

function payloadDetails(sessionName, index, payload) {
  const key = `${sessionName}#${index}`;
  const pre = h('pre', { class: 'payload' });
  const details = h('details', { class: 'raw' }, h('summary', {}, 'Raw payload'), pre);
  const fill = () => {
    if (!pre.textContent) pre.textContent = JSON.stringify(payload, null, 2);
  };
  // HTML fires `toggle` a task after the click that opened the box, so filling only there showed
  // it empty for a moment (and a test reading it straight after the click saw nothing). The click,
  // from a mouse or Enter/Space on the summary, fills it first; `toggle` covers other openings.
  details.firstChild.addEventListener('click', fill);
  details.addEventListener('toggle', () => {
    if (details.open) openPayloads.add(key);
    else openPayloads.delete(key);
    if (details.open) fill();
  });
  if (openPayloads.has(key)) {
    details.open = true;
    fill();
  }
  return details;
}

function timeline(session) {
  if (session.events.length === 0) {
    return h('p', { class: 'muted timeline-empty' }, 'No status callbacks yet. Twilio reports siprec-started within seconds of a start; if none arrives, check that Twilio can reach PUBLIC_BASE_URL/twilio/siprec-status.');
  }
  return h(
    'ol',
    { class: 'timeline' },
    timelineOrder(session.events).map(({ e, i }) =>
      h(
        'li',
        { class: `event event-${/^siprec-(started|stopped|error)$/.test(e.event) ? e.event.slice(7) : 'other'}` },
        h('div', { class: 'event-head' }, h('span', { class: 'event-name' }, e.event), twilioTime(e)),
        h('p', { class: 'event-meta' }, 'received ', timeEl(e.receivedAt)),
        skewNote(e),
        e.errorCode || e.errorMessage ? h('p', { class: 'event-error' }, errorCell(e.errorCode, e.errorMessage)) : null,
        payloadDetails(session.name, i, e.payload),
      ),
    ),
  );
}

// <div> groups are valid inside <dl>; they keep each label above its value in the grid.
function fact(label, value) {
  return h('div', { class: 'fact' }, h('dt', {}, label), h('dd', {}, value));
}

function sessionCard(session) {
  const stop = isOpen(session) && !session.stopRequestedAt
    ? h('button', { type: 'button', class: 'button button-danger button-small', 'data-action': 'stop', 'aria-label': `Stop ${session.name}` }, 'Stop')
    : null;
  const heading = h('h4', { tabindex: '-1' }, session.name);
  stop?.addEventListener('click', () => onStop({ ...session, callSid }, stop, () => cardHeading(session.name)));
  return h(
    'article',
    { class: 'session-card', dataset: { name: session.name } },
    h('header', { class: 'session-head' }, heading, stateBadge(session.state, session.stopRequestedAt), h('span', { class: 'spacer' }), stop),
    h(
      'dl',
      { class: 'facts' },
      fact('Connector', orDash(session.connectorName)),
      fact('Track', orDash(session.track)),
      fact('SIPREC SID', session.siprecSid ? h('span', { class: 'sid-with-copy' }, h('span', { class: 'mono' }, session.siprecSid), copyButton(session.siprecSid, `SIPREC SID of ${session.name}`)) : orDash(null)),
      fact('Requested', timeEl(session.requestedAt)),
      fact('Started', timeEl(session.startedAt)),
      fact('Stopped', timeEl(session.stoppedAt)),
      fact('Stop requested', timeEl(session.stopRequestedAt)),
      fact('Duration', sessionDuration(session)),
      fact('Error', errorCell(session.errorCode, session.errorMessage)),
    ),
    h('h5', {}, 'Events'),
    timeline(session),
  );
}

const cardHeading = (name) => [...document.querySelectorAll('#detail-sessions .session-card')].find((c) => c.dataset.name === name)?.querySelector('h4') ?? null;

// Twilio caps a call at 24 hours (TimeLimit); the ledger has no call-status callback yet.
const MAX_CALL_MS = 24 * 3_600_000;

/**
 * Why the call has probably ended, or null while it may be live: the ledger has no call status, so
 * the signs are a session Twilio stopped without being asked (the call hung up), or the call's age.
 */
export function endedReason(detail, now = Date.now()) {
  const { call, sessions } = detail;
  if (sessions.some(isOpen)) return null;
  if (sessions.some((s) => s.state === 'stopped' && !s.stopRequestedAt)) {
    return 'This call has probably ended: Twilio stopped its recording without being asked to.';
  }
  if (now - Date.parse(call.createdAt) > MAX_CALL_MS) return 'This call has ended: it began more than 24 hours ago, longer than Twilio lets a call last.';
  return null;
}

function render(detail) {
  const { call, sessions } = detail;
  byId('detail-sub').replaceChildren(fromTo(call.from, call.to), call.direction ? ` · ${call.direction}` : '', ' · first seen ', timeEl(call.createdAt));
  const hadFocus = byId('detail-sessions').contains(document.activeElement) ? document.activeElement : null;
  const focusedCard = hadFocus?.closest('.session-card')?.dataset.name;
  const focusedStop = hadFocus?.matches('[data-action="stop"]');
  // A session added or grown above the Start form (the one just started, say) must not push the
  // form and its answer out of view: keep the form where it was on screen.
  const scroller = byId('detail').querySelector('.drawer-body');
  const start = byId('start-heading').closest('section');
  const startTop = start.getBoundingClientRect().top;
  const startInView = startTop < scroller.getBoundingClientRect().bottom;
  byId('detail-sessions').replaceChildren(
    ...(sessions.length ? sessions.map(sessionCard) : [h('p', { class: 'muted' }, 'No SIPREC sessions on this call yet.')]),
  );
  if (startInView) scroller.scrollTop += start.getBoundingClientRect().top - startTop;
  // A redraw (the session moved on) keeps the operator's place in the drawer.
  if (focusedCard) {
    const card = cardHeading(focusedCard)?.closest('.session-card');
    ((focusedStop && card?.querySelector('[data-action="stop"]')) || card?.querySelector('h4'))?.focus({ preventScroll: true });
  }
  showStartForm(endedReason(detail));
}

let shownStatus = '';
function status(kind, title = '', hint = '') {
  const key = JSON.stringify([kind, title, hint]);
  if (key === shownStatus) return;
  shownStatus = key;
  const box = byId('detail-status');
  box.dataset.kind = kind ?? '';
  box.replaceChildren(...(kind ? [h('p', { class: 'state-title' }, title), hint ? h('p', {}, hint) : null] : []));
}

/** Fetches the open call again; re-renders only when something changed, so focus and input survive. */
export async function refreshDetail(opts) {
  if (!callSid) return;
  const sid = callSid;
  try {
    const detail = await getCall(sid, opts);
    if (sid !== callSid) return;
    status(null);
    const json = JSON.stringify(detail);
    if (json !== lastJson) {
      lastJson = json;
      render(detail);
    }
  } catch (err) {
    if (sid !== callSid || isAborted(err)) return;
    if (err.status === 404) status('error', 'This call is not in the ledger.', 'Check the Call SID; a call appears here once Twilio has sent its voice webhook or a status callback.');
    else status('error', `Could not load the call: ${err.message}`, advice(err) || 'Retrying with the next refresh.');
  }
}

/** Opens the drawer; `from` is the control that asked, which gets focus back when it closes. */
export async function openDetail(sid, from) {
  const dialog = byId('detail');
  if (callSid !== sid) {
    callSid = sid;
    lastJson = '';
    openPayloads.clear();
    byId('detail-title').textContent = sid;
    byId('detail-console').href = consoleUrl(sid);
    byId('detail-sub').replaceChildren();
    byId('detail-sessions').replaceChildren();
    resetStartForm(sid);
    status('loading', 'Loading call…');
  }
  if (!dialog.open) {
    opener = from ?? null;
    dialog.showModal();
  }
  history.replaceState(null, '', `${location.pathname}${location.search}#call=${encodeURIComponent(sid)}`);
  await refreshDetail();
}

export const detailCallSid = () => callSid;

export function initDetail(handlers) {
  onStop = handlers.onStop;
  byId('detail-title').after(copyButton(() => callSid, 'Call SID'));
  byId('detail').addEventListener('close', () => {
    const sid = callSid;
    const from = opener;
    callSid = null;
    opener = null;
    history.replaceState(null, '', `${location.pathname}${location.search}`);
    // Back to the control that opened the drawer, or to the call's row if that one was redrawn.
    const target = from?.isConnected ? from : sid ? document.querySelector(`#sessions-body tr[data-call-sid="${CSS.escape(sid)}"] .call-link`) : null;
    target?.focus();
  });
}

/** A link such as …/#call=CA… opens that call's detail. */
export function callSidFromHash() {
  const m = /^#call=(CA[0-9a-f]{32})$/.exec(location.hash);
  return m ? m[1] : null;
}
