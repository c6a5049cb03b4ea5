// The sessions table, updated in place: each session keeps its <tr> across refreshes (keyed by
// call and name), and only a cell whose data changed is redrawn, so a selection, a focused control
// and the screen reader's place survive a refresh. One row at a time is a Tab stop (roving
// tabindex); the arrow keys, Home and End move between rows, Enter on the Call SID opens the detail.
import { copyButton } from './copy.js';
import { byId, errorCell, fromTo, h, isOpen, orDash, sessionDuration, stateBadge, timeEl } from './dom.js';

export const rowKey = (s) => `${s.callSid}/${s.name}`;

// Until Twilio confirms a start, show when it was asked for, marked as such.
function started(session) {
  if (session.startedAt || !session.requestedAt) return timeEl(session.startedAt);
  return h('span', { class: 'muted' }, 'requested ', timeEl(session.requestedAt));
}

function stateCell(session) {
  const stop = isOpen(session) && !session.stopRequestedAt
    ? h('button', { type: 'button', class: 'button button-danger button-small', 'data-action': 'stop', 'aria-label': `Stop ${session.name}` }, 'Stop')
    : null;
  return h('span', { class: 'state-cell' }, stateBadge(session.state, session.stopRequestedAt), stop);
}

function callCell(session) {
  return h(
    'span',
    { class: 'call-cell' },
    h('a', { class: 'mono call-sid call-link', href: `#call=${session.callSid}`, 'aria-label': `Open call ${session.callSid}`, dataset: { callSid: session.callSid } }, session.callSid),
    copyButton(session.callSid, 'Call SID'),
  );
}

/** [label, what the cell shows (its redraw key), how to draw it]. `view` is the zone and day, for times. */
const COLUMNS = [
  ['Call', (s) => s.callSid, callCell],
  ['From → To', (s) => [s.from, s.to], (s) => fromTo(s.from, s.to)],
  ['Name', (s) => s.name, (s) => h('span', { class: 'name' }, s.name)],
  ['Connector', (s) => s.connectorName, (s) => orDash(s.connectorName)],
  ['Track', (s) => s.track, (s) => orDash(s.track)],
  ['State', (s) => [s.state, s.stopRequestedAt], stateCell],
  ['Started', (s, view) => [s.startedAt, s.requestedAt, view], started],
  ['Stopped', (s, view) => [s.stoppedAt, view], (s) => timeEl(s.stoppedAt)],
  ['Duration', (s) => [s.state, s.startedAt, s.stoppedAt], (s) => sessionDuration(s)],
  ['Error', (s) => [s.errorCode, s.errorMessage], (s) => errorCell(s.errorCode, s.errorMessage)],
];

const rows = new Map();
let current = null;
let handlers = { onOpen() {}, onStop() {} };

const body = () => byId('sessions-body');
const focusTarget = (tr) => tr.querySelector('.call-link');

function drawCell(td, column, session) {
  td.replaceChildren(column[2](session));
  // On a phone a card leaves out an empty error line.
  if (column[0] === 'Error') td.classList.toggle('no-error', !session.errorCode && !session.errorMessage);
}

function createRow(session, view) {
  const tr = h('tr', { class: `row row-${session.state}`, dataset: { key: rowKey(session), callSid: session.callSid, name: session.name } });
  const entry = { tr, session, keys: [] };
  for (const column of COLUMNS) {
    const td = h('td', { 'data-label': column[0] });
    drawCell(td, column, session);
    tr.append(td);
    entry.keys.push(JSON.stringify(column[1](session, view)));
  }
  tr.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (target?.closest('[data-action="stop"]')) return handlers.onStop(entry.session, target.closest('button'));
    if (target?.closest('button')) return undefined;
    if (target?.closest('a')) event.preventDefault();
    // Selecting a SID or a number to copy it is not a request to open the call.
    else if (String(getSelection() ?? '') !== '') return undefined;
    return handlers.onOpen(entry.session.callSid, tr);
  });
  return entry;
}

function updateRow(entry, session, view) {
  entry.session = session;
  const className = `row row-${session.state}`;
  if (entry.tr.className !== className) entry.tr.className = className;
  COLUMNS.forEach((column, i) => {
    const key = JSON.stringify(column[1](session, view));
    if (key === entry.keys[i]) return;
    entry.keys[i] = key;
    const td = entry.tr.cells[i];
    const hadFocus = td.contains(document.activeElement);
    drawCell(td, column, session);
    // A Stop button that went away (the stop was asked for) hands focus to its row.
    if (hadFocus) (td.querySelector('button, a') ?? focusTarget(entry.tr))?.focus({ preventScroll: true });
  });
}

/** Only the current row's controls are Tab stops. */
function applyRoving() {
  if (current && !rows.has(current)) current = null;
  current ??= rows.keys().next().value ?? null;
  for (const [key, entry] of rows) {
    const index = key === current ? 0 : -1;
    for (const el of entry.tr.querySelectorAll('a, button')) if (el.tabIndex !== index) el.tabIndex = index;
  }
}

/** Brings the table to `sessions` in order, moving and redrawing as little as it can. */
export function renderSessions(sessions, view) {
  const tbody = body();
  const wanted = new Set(sessions.map(rowKey));
  for (const [key, entry] of rows) {
    if (wanted.has(key)) continue;
    const hadFocus = entry.tr.contains(document.activeElement);
    entry.tr.remove();
    rows.delete(key);
    if (hadFocus) current = null;
  }
  let previous = null;
  for (const session of sessions) {
    const key = rowKey(session);
    let entry = rows.get(key);
    if (entry) updateRow(entry, session, view);
    else rows.set(key, (entry = createRow(session, view)));
    const expected = previous ? previous.nextSibling : tbody.firstChild;
    if (entry.tr !== expected) tbody.insertBefore(entry.tr, expected);
    previous = entry.tr;
  }
  applyRoving();
}

/** The row's link (its Tab stop), e.g. to give focus back after a dialog. */
export function rowFocusTarget(key) {
  const entry = rows.get(key);
  return entry ? focusTarget(entry.tr) : null;
}

function moveFocus(event) {
  const tr = event.target instanceof Element ? event.target.closest('tr') : null;
  if (!tr || !['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(event.key)) return;
  const all = [...body().rows];
  const at = all.indexOf(tr);
  const next = { ArrowDown: all[at + 1], ArrowUp: all[at - 1], Home: all[0], End: all.at(-1) }[event.key];
  event.preventDefault();
  if (next) focusTarget(next)?.focus();
}

export function initTable(rowHandlers) {
  handlers = rowHandlers;
  const tbody = body();
  tbody.addEventListener('keydown', moveFocus);
  tbody.addEventListener('focusin', (event) => {
    const key = event.target instanceof Element ? event.target.closest('tr')?.dataset.key : undefined;
    if (key && key !== current) {
      current = key;
      applyRoving();
    }
  });
}

/** Marks the rows as not current: `loading` while a new filter is asked for, `stale` after a failure. */
export function markTable(kind) {
  const table = byId('sessions-table');
  table.dataset.stale = kind ?? '';
  if (kind === 'loading') table.setAttribute('aria-busy', 'true');
  else table.removeAttribute('aria-busy');
}

/**
 * The message above the table: empty, loading and error states each say what to do next.
 * `kind` is 'loading' | 'empty' | 'no-match' | 'error' | null.
 */
export function renderTableStatus(kind, text = '', hint = '') {
  const box = byId('sessions-status');
  if ((box.dataset.kind ?? '') === (kind ?? '') && box.dataset.text === `${text}\n${hint}`) return;
  box.dataset.kind = kind ?? '';
  box.dataset.text = `${text}\n${hint}`;
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
