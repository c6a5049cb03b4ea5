// The "Start SIPREC" form on a call's detail: connector, session name, track and name/value
// parameter rows, sent to POST /api/calls/:callSid/siprec.
import { advice, detailLines, startSiprec } from './api.js';
import { byId, h } from './dom.js';

// Twilio takes at most 99 ParameterN pairs on a REST-started Siprec.
const MAX_PARAMETERS = 99;

let callSid = null;
let busy = false;
let forced = false;
let afterStart = () => {};

/** Numbers the parameter rows, so each field and each Remove button says which parameter it is. */
function numberRows() {
  [...byId('param-rows').children].forEach((row, i) => {
    const n = i + 1;
    row.querySelector('[data-part="name"]').textContent = `Parameter ${n} name`;
    row.querySelector('[data-part="value"]').textContent = `Parameter ${n} value`;
    row.querySelector('button').setAttribute('aria-label', `Remove parameter ${n}`);
  });
}

function paramRow() {
  const remove = h('button', { type: 'button', class: 'button button-quiet button-small' }, 'Remove');
  const row = h(
    'div',
    { class: 'param-row' },
    h('label', { class: 'field' }, h('span', { 'data-part': 'name' }), h('input', { name: 'paramName', required: true, maxlength: '256', autocomplete: 'off', spellcheck: 'false' })),
    h('label', { class: 'field' }, h('span', { 'data-part': 'value' }), h('input', { name: 'paramValue', maxlength: '500', autocomplete: 'off', spellcheck: 'false' })),
    remove,
  );
  remove.addEventListener('click', () => {
    row.remove();
    numberRows();
    byId('param-add').focus();
  });
  return row;
}

function outcome(kind, title, lines = []) {
  const box = byId('start-outcome');
  box.dataset.kind = kind;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  box.replaceChildren(h('p', { class: 'outcome-title' }, title), ...lines.filter(Boolean).map((l) => h('p', {}, l)));
  // On a phone the form is taller than the screen: bring the answer into view.
  box.scrollIntoView({ block: 'nearest' });
}

/** The API takes parameters as { name: value }; a name given twice is refused here rather than lost. */
function readForm(form) {
  const data = new FormData(form);
  const text = (k) => String(data.get(k) ?? '').trim();
  const body = { connectorName: text('connectorName'), track: text('track') };
  if (text('name')) body.name = text('name');
  // No prototype, so a parameter named __proto__ is just a parameter.
  const parameters = Object.create(null);
  for (const row of byId('param-rows').querySelectorAll('.param-row')) {
    const nameInput = row.querySelector('[name="paramName"]');
    const name = nameInput.value.trim();
    nameInput.setCustomValidity(Object.hasOwn(parameters, name) ? `The parameter ${name} is already given above.` : '');
    parameters[name] = row.querySelector('[name="paramValue"]').value;
  }
  if (Object.keys(parameters).length) body.parameters = parameters;
  return body;
}

async function submit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  if (!callSid || busy) return;
  const body = readForm(form);
  if (!form.reportValidity()) return;
  const sid = callSid;
  // aria-disabled, not disabled: a disabled button drops focus to <body>.
  const button = form.querySelector('[type="submit"]');
  busy = true;
  button.setAttribute('aria-disabled', 'true');
  outcome('working', 'Asking Twilio to start SIPREC…');
  try {
    const session = await startSiprec(sid, body);
    outcome('success', `Started ${session.name}${session.siprecSid ? ` (${session.siprecSid})` : ''}.`, ['It reads Active once Twilio reports siprec-started.']);
  } catch (err) {
    outcome('error', `Could not start: ${err.message}`, [...detailLines(err), advice(err)]);
  } finally {
    busy = false;
    button.removeAttribute('aria-disabled');
    afterStart();
  }
}

export function initStartForm(onAfterStart) {
  afterStart = onAfterStart;
  byId('start-form').addEventListener('submit', submit);
  byId('param-add').addEventListener('click', () => {
    const rows = byId('param-rows');
    if (rows.children.length >= MAX_PARAMETERS) return outcome('error', `Twilio takes at most ${MAX_PARAMETERS} parameters.`);
    const row = paramRow();
    rows.append(row);
    numberRows();
    row.querySelector('input').focus();
  });
  byId('start-anyway').addEventListener('click', () => {
    forced = true;
    showStartForm(null);
    byId('start-form').querySelector('input')?.focus();
  });
}

/** Offers the form while the call may be live; otherwise says why not (`reason`), with a way past it. */
export function showStartForm(reason) {
  const hide = Boolean(reason) && !forced;
  const form = byId('start-form');
  const note = byId('start-ended');
  const hadFocus = form.contains(document.activeElement);
  form.hidden = hide;
  note.hidden = !hide;
  byId('start-ended-text').textContent = hide ? reason : '';
  if (hide && hadFocus) byId('start-anyway').focus();
}

/** A fresh form for another call: nothing typed for one call is sent to the next. */
export function resetStartForm(sid) {
  callSid = sid;
  forced = false;
  const form = byId('start-form');
  form.reset();
  byId('param-rows').replaceChildren();
  const box = byId('start-outcome');
  box.dataset.kind = '';
  box.replaceChildren();
  // Shown once the call's detail says whether it may still be live.
  form.hidden = true;
  byId('start-ended').hidden = true;
}
