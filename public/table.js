// The sessions table: one focusable row per session; Enter or a click opens the call's detail.
import { byId, errorCell, fromTo, h, isOpen, orDash, sessionDuration, stateBadge, timeEl } from './dom.js';

const rowKey = (s) => `${s.callSid}/${s.name}`;

function cell(label, ...content) {
  return h('td', { 'data-label': label }, ...content);
}

function errorTd(session) {
  const td = cell('Error', errorCell(session.errorCode, session.errorMessage));
  // On a phone a card leaves out an empty error line.
  if (!session.errorCode && !session.errorMessage) td.classList.add('no-error');
  return td;
}

// Until Twilio confirms a start, show when it was asked for, marked as such.
function started(session) {
  if (session.startedAt || !session.requestedAt) return timeEl(session.startedAt);
  return h('span', { class: 'muted' }, 'requested ', timeEl(session.requestedAt));
}

function row(session, handlers, now) {
  const stop = isOpen(session) && !session.stopRequestedAt
    ? h('button', { type: 'button', class: 'button button-danger button-small', 'data-action': 'stop' }, 'Stop')
    : null;
  const tr = h(
    'tr',
    { tabindex: '0', class: `row row-${session.state}`, dataset: { key: rowKey(session), callSid: session.callSid, name: session.name } },
    cell('Call', h('span', { class: 'mono call-sid', title: session.callSid }, session.callSid)),
    cell('From → To', fromTo(session.from, session.to)),
    cell('Name', h('span', { class: 'name' }, session.name)),
    cell('Connector', orDash(session.connectorName)),
    cell('Track', orDash(session.track)),
    cell('State', h('span', { class: 'state-cell' }, stateBadge(session.state, session.stopRequestedAt), stop)),
    cell('Started', started(session)),
    cell('Stopped', timeEl(session.stoppedAt)),
    cell('Duration', sessionDuration(session, now)),
    errorTd(session),
  );
  tr.addEventListener('click', (event) => {
    if (event.target instanceof Element && event.target.closest('[data-action="stop"]')) return handlers.onStop(session);
    handlers.onOpen(session.callSid);
  });
  tr.addEventListener('keydown', (event) => {
    if (event.target !== tr || (event.key !== 'Enter' && event.key !== ' ')) return;
    event.preventDefault();
    handlers.onOpen(session.callSid);
  });
  return tr;
}

/**
 * Replaces the rows in one step, so the page keeps its height and scroll position, and puts focus
 * back on the row (or its Stop button) that had it.
 */
export function renderSessions(sessions, handlers) {
  const body = byId('sessions-body');
  const active = document.activeElement;
  const focusedRow = active instanceof Element && body.contains(active) ? active.closest('tr') : null;
  const focusKey = focusedRow?.dataset.key;
  const focusedStop = focusedRow && active !== focusedRow;

  const now = Date.now();
  body.replaceChildren(...sessions.map((s) => row(s, handlers, now)));

  if (focusKey) {
    const again = [...body.rows].find((r) => r.dataset.key === focusKey);
    const target = again && (focusedStop ? again.querySelector('[data-action="stop"]') ?? again : again);
    target?.focus({ preventScroll: true });
  }
}

/**
 * The message under the table: empty, loading and error states each say what to do next.
 * `kind` is 'loading' | 'empty' | 'no-match' | 'error' | null.
 */
export function renderTableStatus(kind, text = '', hint = '') {
  const box = byId('sessions-status');
  box.dataset.kind = kind ?? '';
  if (!kind) return void box.replaceChildren();
  const lines = {
    loading: [h('p', { class: 'state-title' }, 'Loading sessions…')],
    empty: [
      h('p', { class: 'state-title' }, 'No sessions yet'),
      h('p', {}, 'Point a Twilio number\'s voice URL at ', h('code', {}, 'PUBLIC_BASE_URL/twilio/voice'), ' (HTTP POST) and call it: each call\'s SIPREC sessions appear here within seconds.'),
    ],
    'no-match': [h('p', { class: 'state-title' }, 'No sessions match these filters'), h('p', {}, 'Change or clear the filters above.')],
    error: [h('p', { class: 'state-title' }, text), hint ? h('p', {}, hint) : null],
  }[kind];
  box.replaceChildren(...lines);
}
