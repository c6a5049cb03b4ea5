// Stopping a session: a <dialog> asks first, then shows Twilio's answer in place, so the outcome is
// seen wherever the Stop button was (table or call detail) and the dialog is reachable by keyboard.
import { advice, detailLines, stopSiprec } from './api.js';
import { byId, h } from './dom.js';

let current = null;
let returnTo = null;
let afterStop = () => {};

/** Focus goes back to the Stop button that asked, or (once that is gone) to what `fallback()` names. */
function giveFocusBack() {
  const { opener, fallback } = returnTo ?? {};
  returnTo = null;
  const target = opener?.isConnected && !opener.disabled && opener.offsetParent !== null ? opener : fallback?.();
  target?.focus();
}

function outcome(kind, title, lines = []) {
  const box = byId('confirm-outcome');
  box.dataset.kind = kind;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  box.replaceChildren(h('p', { class: 'outcome-title' }, title), ...lines.filter(Boolean).map((l) => h('p', {}, l)));
}

async function confirmStop(event) {
  // The button would close the dialog (method="dialog"); keep it open to show the outcome.
  event.preventDefault();
  if (!current) return;
  const session = current;
  const ok = byId('confirm-ok');
  const cancel = byId('confirm-cancel');
  ok.disabled = true;
  cancel.disabled = true;
  outcome('working', 'Asking Twilio to stop…');
  try {
    await stopSiprec(session.callSid, session.name);
    outcome('success', 'Twilio accepted the stop.', ['The session reads Stopped once Twilio reports siprec-stopped.']);
    ok.hidden = true;
  } catch (err) {
    outcome('error', `Could not stop: ${err.message}`, [...detailLines(err), advice(err)]);
    ok.textContent = 'Try again';
  } finally {
    ok.disabled = false;
    cancel.disabled = false;
    cancel.textContent = 'Close';
    cancel.focus();
    afterStop();
  }
}

export function initStopDialog(onAfterStop) {
  afterStop = onAfterStop;
  byId('confirm-ok').addEventListener('click', confirmStop);
  byId('confirm-stop').addEventListener('close', () => {
    current = null;
    giveFocusBack();
  });
}

export function askToStop(session, opener, fallback) {
  current = session;
  returnTo = { opener, fallback };
  byId('confirm-text').replaceChildren(
    'Stop SIPREC session ',
    h('strong', {}, session.name),
    session.connectorName ? ` (connector ${session.connectorName})` : '',
    ' on call ',
    h('span', { class: 'mono' }, session.callSid),
    '?',
  );
  const ok = byId('confirm-ok');
  ok.hidden = false;
  ok.textContent = 'Stop recording';
  byId('confirm-cancel').textContent = 'Cancel';
  const box = byId('confirm-outcome');
  box.dataset.kind = '';
  box.replaceChildren();
  const dialog = byId('confirm-stop');
  dialog.showModal();
  byId('confirm-cancel').focus();
}
