// A call's detail in a modal <dialog>: its sessions, each session's event timeline with the raw
// payload on demand, Stop buttons, and the Start SIPREC form (start-form.js).
import { advice, getCall } from './api.js';
import { byId, errorCell, fromTo, h, isOpen, orDash, sessionDuration, stateBadge, timeEl } from './dom.js';
import { resetStartForm } from './start-form.js';

let callSid = null;
let lastJson = '';
let onStop = () => {};
// Which raw payloads are unfolded, so a refresh does not fold them back.
const openPayloads = new Set();

const when = (iso) => (Number.isNaN(Date.parse(iso)) ? Number.NaN : Date.parse(iso));

/** Twilio's own timestamp orders the timeline; received time stands in when Twilio's does not parse. */
export function timelineOrder(events) {
  const key = (e) => (Number.isFinite(when(e.timestamp)) ? when(e.timestamp) : when(e.receivedAt));
  return events.map((e, i) => ({ e, i })).sort((a, b) => key(a.e) - key(b.e) || a.i - b.i);
}

function twilioTime(raw) {
  const t = when(raw);
  if (!Number.isFinite(t)) return h('span', { title: 'Twilio\'s Timestamp, as sent (not a recognised date format)' }, raw);
  const el = timeEl(new Date(t).toISOString());
  el.title = `${el.title} · as sent: ${raw}`;
  return el;
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
        h('div', { class: 'event-head' }, h('span', { class: 'event-name' }, e.event), twilioTime(e.timestamp)),
        h('p', { class: 'event-meta' }, 'received ', timeEl(e.receivedAt)),
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
    ? h('button', { type: 'button', class: 'button button-danger button-small', 'data-action': 'stop' }, 'Stop')
    : null;
  stop?.addEventListener('click', () => onStop({ ...session, callSid }));
  return h(
    'article',
    { class: 'session-card', dataset: { name: session.name } },
    h('header', { class: 'session-head' }, h('h4', {}, session.name), stateBadge(session.state, session.stopRequestedAt), h('span', { class: 'spacer' }), stop),
    h(
      'dl',
      { class: 'facts' },
      fact('Connector', orDash(session.connectorName)),
      fact('Track', orDash(session.track)),
      fact('SIPREC SID', session.siprecSid ? h('span', { class: 'mono' }, session.siprecSid) : orDash(null)),
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

function render(detail) {
  const { call, sessions } = detail;
  byId('detail-sub').replaceChildren(fromTo(call.from, call.to), call.direction ? ` · ${call.direction}` : '', ' · first seen ', timeEl(call.createdAt));
  byId('detail-sessions').replaceChildren(
    ...(sessions.length ? sessions.map(sessionCard) : [h('p', { class: 'muted' }, 'No SIPREC sessions on this call yet.')]),
  );
}

function status(kind, title = '', hint = '') {
  const box = byId('detail-status');
  box.dataset.kind = kind ?? '';
  box.replaceChildren(...(kind ? [h('p', { class: 'state-title' }, title), hint ? h('p', {}, hint) : null] : []));
}

/** Fetches the open call again; re-renders only when something changed, so focus and input survive. */
export async function refreshDetail() {
  if (!callSid) return;
  const sid = callSid;
  try {
    const detail = await getCall(sid);
    if (sid !== callSid) return;
    status(null);
    const json = JSON.stringify(detail);
    if (json !== lastJson) {
      lastJson = json;
      render(detail);
    }
  } catch (err) {
    if (sid !== callSid) return;
    if (err.status === 404) status('error', 'This call is not in the ledger.', 'Check the Call SID; a call appears here once Twilio has sent its voice webhook or a status callback.');
    else status('error', `Could not load the call: ${err.message}`, advice(err) || 'Retrying with the next refresh.');
  }
}

export async function openDetail(sid) {
  const dialog = byId('detail');
  if (callSid !== sid) {
    callSid = sid;
    lastJson = '';
    openPayloads.clear();
    byId('detail-title').textContent = sid;
    byId('detail-sub').replaceChildren();
    byId('detail-sessions').replaceChildren();
    resetStartForm(sid);
    status('loading', 'Loading call…');
  }
  if (!dialog.open) dialog.showModal();
  history.replaceState(null, '', `${location.pathname}${location.search}#call=${encodeURIComponent(sid)}`);
  await refreshDetail();
}

export const detailCallSid = () => callSid;

export function initDetail(handlers) {
  onStop = handlers.onStop;
  byId('detail').addEventListener('close', () => {
    const sid = callSid;
    callSid = null;
    history.replaceState(null, '', `${location.pathname}${location.search}`);
    // The row that opened the dialog was likely redrawn meanwhile; give focus to its successor.
    if (sid && (!document.activeElement || document.activeElement === document.body)) {
      document.querySelector(`#sessions-body tr[data-call-sid="${CSS.escape(sid)}"]`)?.focus();
    }
  });
}

/** A link such as …/#call=CA… opens that call's detail. */
export function callSidFromHash() {
  const m = /^#call=(CA[0-9a-f]{32})$/.exec(location.hash);
  return m ? m[1] : null;
}
