// The filter form and its URL: what the operator asked for, checked before it is sent, so a bad
// value gets a sentence saying what would be accepted instead of an empty table.
import { byId } from './dom.js';

const STATES = ['requested', 'active', 'failed', 'stopped'];
const CALL_SID = /^CA[0-9a-f]{32}$/;
const SIPREC_SID = /^SR[0-9a-f]{32}$/;
// The select fires `change` on every arrow key; wait for the operator to settle on one.
const SELECT_SETTLE_MS = 400;

/** `YYYY-MM-DDTHH:mm` (a datetime-local value) of an instant, in the page's zone, through Intl. */
function localInput(iso, utc) {
  if (!iso) return '';
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: utc ? 'UTC' : undefined, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
      .formatToParts(new Date(iso))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** The instant a datetime-local value names: JS reads a date-time without offset as local time. */
function instant(value, utc) {
  if (!value) return '';
  const date = new Date(utc ? `${value}Z` : value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

const validIso = (v) => (v && !Number.isNaN(Date.parse(v)) ? new Date(v).toISOString() : '');

/** The filters a URL asks for; anything malformed is left out. */
export function filtersFromUrl(params) {
  const sid = params.get('callSid') ?? params.get('siprecSid') ?? '';
  return {
    state: STATES.includes(params.get('state')) ? params.get('state') : '',
    connector: (params.get('connectorName') ?? '').slice(0, 128),
    sid: CALL_SID.test(sid) || SIPREC_SID.test(sid) ? sid : '',
    phone: (params.get('phone') ?? '').slice(0, 64),
    since: validIso(params.get('since')),
    until: validIso(params.get('until')),
  };
}

export function filtersToUrl(filters, q) {
  if (filters.state) q.set('state', filters.state);
  if (filters.connector) q.set('connectorName', filters.connector);
  if (filters.sid) q.set(filters.sid.startsWith('SR') ? 'siprecSid' : 'callSid', filters.sid);
  if (filters.phone) q.set('phone', filters.phone);
  if (filters.since) q.set('since', filters.since);
  if (filters.until) q.set('until', filters.until);
}

/** What the API is asked for. */
export function filtersToQuery(filters) {
  return {
    state: filters.state,
    connectorPrefix: filters.connector,
    callSid: filters.sid.startsWith('CA') ? filters.sid : '',
    siprecSid: filters.sid.startsWith('SR') ? filters.sid : '',
    phone: filters.phone,
    since: filters.since,
    until: filters.until,
  };
}

export const anyFilter = (filters) => Object.values(filters).some(Boolean);

export function showFilters(filters, utc) {
  byId('filter-state').value = filters.state;
  byId('filter-connector').value = filters.connector;
  byId('filter-call').value = filters.sid;
  byId('filter-phone').value = filters.phone;
  byId('filter-since').value = localInput(filters.since, utc);
  byId('filter-until').value = localInput(filters.until, utc);
}

function problem(input, hintId, message) {
  const hint = byId(hintId);
  hint.textContent = message ?? '';
  hint.hidden = !message;
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
  return Boolean(message);
}

/** Reads the form; null (with the reason shown beside the field) when a value cannot be sent. */
export function readFilters(utc) {
  const callInput = byId('filter-call');
  const raw = callInput.value.trim();
  // Twilio's SIDs are lower-case hex; accept a pasted upper-case one, keeping its kind (CA or SR).
  const sid = raw ? `${raw.slice(0, 2).toUpperCase()}${raw.slice(2).toLowerCase()}` : '';
  const badSid = sid && !CALL_SID.test(sid) && !SIPREC_SID.test(sid)
    ? 'Give a Call SID (CA followed by 32 hex digits, e.g. CA0123456789abcdef0123456789abcdef) or a SIPREC SID (SR followed by 32 hex digits).'
    : null;
  const sinceInput = byId('filter-since');
  const untilInput = byId('filter-until');
  const since = instant(sinceInput.value, utc);
  const until = instant(untilInput.value, utc);
  const badRange = since === null || until === null
    ? 'Give a date and a time, or leave the field empty.'
    : since && until && since >= until ? '"Until" must be after "Since".' : null;
  const bad = [problem(callInput, 'filter-call-hint', badSid), problem(untilInput, 'filter-range-hint', badRange)];
  if (badRange) sinceInput.setAttribute('aria-invalid', 'true');
  else sinceInput.removeAttribute('aria-invalid');
  if (bad.some(Boolean)) return null;
  return {
    state: byId('filter-state').value,
    connector: byId('filter-connector').value.trim(),
    sid,
    phone: byId('filter-phone').disabled ? '' : byId('filter-phone').value.trim(),
    since: since ?? '',
    until: until ?? '',
  };
}

/** Wires the form: `apply()` runs on submit, on a settled State choice and on other fields' change. */
export function initFilters(apply) {
  const form = byId('filters');
  let settle = null;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(settle);
    apply();
  });
  byId('filter-state').addEventListener('change', () => {
    clearTimeout(settle);
    settle = setTimeout(apply, SELECT_SETTLE_MS);
  });
  for (const id of ['filter-connector', 'filter-phone', 'filter-since', 'filter-until']) byId(id).addEventListener('change', () => apply());
  byId('filter-clear').addEventListener('click', () => {
    clearTimeout(settle);
    form.reset();
    apply();
  });
}

/** STORE_CALLER_NUMBERS=none keeps no numbers, so there is nothing to search; masked keeps a mask. */
export function showPhoneSearch(mode) {
  const input = byId('filter-phone');
  const hint = byId('filter-phone-hint');
  const unavailable = mode === 'none';
  input.disabled = unavailable;
  hint.textContent = unavailable
    ? 'Unavailable: this server stores no phone numbers (STORE_CALLER_NUMBERS=none).'
    : mode === 'masked'
      ? 'Numbers are stored masked: a full number matches calls with the same country code and last two digits.'
      : 'A From or To number, e.g. +14155550100.';
}
