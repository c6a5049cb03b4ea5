// Copy buttons for SIDs: an operator pastes them into Twilio's Console, a ticket or a CLI.
import { h } from './dom.js';
import { announce } from './freshness.js';

async function copy(button, value, what) {
  if (!value) return;
  try {
    // Only in a secure context (HTTPS, or localhost); a plain-HTTP page has no clipboard API.
    await navigator.clipboard.writeText(value);
    button.textContent = 'Copied';
    announce(`${what} copied`);
  } catch {
    // Select the text instead, so that Ctrl+C (or ⌘C) copies it.
    const text = button.previousElementSibling;
    if (text) getSelection()?.selectAllChildren(text);
    button.textContent = 'Press Ctrl+C';
    announce(`${what} selected: press Control C to copy it`);
  }
  setTimeout(() => (button.textContent = 'Copy'), 2000);
}

/** A "Copy" button for `value` (or what `value()` gives when clicked), placed right after the element that shows it. */
export function copyButton(value, what) {
  const button = h('button', { type: 'button', class: 'button button-quiet button-tiny copy', 'aria-label': `Copy ${what}` }, 'Copy');
  button.addEventListener('click', (event) => {
    event.stopPropagation();
    void copy(button, typeof value === 'function' ? value() : value, what);
  });
  return button;
}
