// How fresh the page is, said in three places an operator looks: the header, the tab's title and the
// favicon. A page that has not had a good answer for two refresh periods says so ("Last good update
// 40 s ago") instead of showing its last good time as if it were current.
import { byId, formatClock, formatDuration, h } from './dom.js';

const TITLE = document.title;
const ICON = 'favicon.svg';
// Inline, not a file: a signed-out page cannot load anything more from the server.
const STALE_ICON = `data:image/svg+xml,${encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#b91c1c"/>' +
    '<path d="M16 7v11" stroke="#fff" stroke-width="3.4" stroke-linecap="round"/><circle cx="16" cy="24" r="2.2" fill="#fff"/></svg>',
)}`;

let announcer = null;
/**
 * Says `text` once to screen readers. The header is not a live region (it changes every refresh);
 * only what is worth hearing comes here: a new error, signed out, updates stopping and resuming.
 */
export function announce(text) {
  announcer ??= byId('announcer');
  // Emptied first so that the same sentence twice is still heard twice.
  announcer.textContent = '';
  setTimeout(() => (announcer.textContent = text), 50);
}

export function createFreshness(refreshMs) {
  const openedAt = Date.now();
  // Coming back to a hidden tab starts the clock again: the paused time was not a failure.
  let resumedAt = openedAt;
  let lastGood = null;
  let failedAt = null;
  let signedOutAt = null;
  let paused = false;
  let wasStale = false;

  const header = byId('updated');
  const icon = document.querySelector('link[rel="icon"]');
  let shown = '';

  function set(parts, tone, title, stale) {
    const key = JSON.stringify([parts.map((p) => (p instanceof Date ? p.getTime() : p)), tone]);
    if (key !== shown) {
      shown = key;
      header.replaceChildren(...parts.map((p) => (p instanceof Date ? h('time', { datetime: p.toISOString() }, formatClock(p)) : p)));
      header.dataset.tone = tone;
    }
    if (document.title !== title) document.title = title;
    const href = stale ? STALE_ICON : ICON;
    if (icon && icon.getAttribute('href') !== href) icon.setAttribute('href', href);
  }

  /** Redraws from the state and the clock; runs every second, so staleness appears without a refresh. */
  function render(now = Date.now()) {
    const every = ` · every ${refreshMs / 1000} s`;
    if (signedOutAt) return set(['Signed out at ', signedOutAt, ' · reload the page to sign in; refreshing has stopped'], 'bad', `Signed out · ${TITLE}`, true);
    if (paused) return set(['Paused while the tab is hidden', ...(lastGood ? [' · last updated ', lastGood] : [])], '', TITLE, false);
    const age = now - Math.max(lastGood?.getTime() ?? 0, resumedAt);
    const stale = age > 2 * refreshMs;
    if (stale !== wasStale) {
      wasStale = stale;
      announce(stale ? 'The status page has stopped updating: the server is not answering.' : 'The status page is updating again.');
    }
    if (stale) {
      const ago = formatDuration(age);
      if (!lastGood) return set([`No good update since the page opened ${ago} ago`], 'bad', `No good update for ${ago} · ${TITLE}`, true);
      return set([`Last good update ${ago} ago (`, lastGood, ')'], 'bad', `Last good update ${ago} ago · ${TITLE}`, true);
    }
    if (failedAt && (!lastGood || failedAt > lastGood)) {
      return set(['Update failed at ', failedAt, ...(lastGood ? [' · last good ', lastGood] : [])], 'bad', TITLE, false);
    }
    if (lastGood) return set(['Updated ', lastGood, every], '', TITLE, false);
    return set(['Loading…'], '', TITLE, false);
  }

  return {
    render,
    good(at = new Date()) {
      lastGood = at;
      render();
    },
    failed(at = new Date()) {
      failedAt = at;
      render();
    },
    signedOut(at = new Date()) {
      if (!signedOutAt) announce('Signed out: reload the page to sign in again. The status page has stopped refreshing.');
      signedOutAt = at;
      render();
    },
    pause(isPaused) {
      if (paused && !isPaused) resumedAt = Date.now();
      paused = isPaused;
      render();
    },
    lastGood: () => lastGood,
  };
}
