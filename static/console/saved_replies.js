// Saved replies in the console's reply box: typing "/" and a shortcut lists the matching replies
// (a listbox: arrows move, Enter or Tab picks, Escape closes); the pick replaces "/shortcut" with
// the reply, its {variables} filled in by the server for this conversation and this agent.
// Keys are caught on the form in the capture phase, so console.js's Enter-to-send never sees an
// Enter that picks a reply.

import { apiFetch } from '../shared/api.js';
import { el } from '../shared/messages.js';

const page = document.getElementById('conversation');
const form = document.getElementById('reply-form');
const input = document.getElementById('reply-input');

// "/ref" right before the caret, at the start or after a space: the shortcut being typed.
const TOKEN = /(^|\s)\/([a-z0-9_-]*)$/i;
const MAX_SHOWN = 8;
const REFRESH_MS = 60000; // an admin may add replies meanwhile

// seq: each keystroke's lookup, so a slow one that finishes after a newer one (or after a pick)
// does not reopen the list. loading: the one request in flight, shared by the keystrokes.
const state = { replies: null, loadedAt: 0, loading: null, matches: [], active: -1, token: null, seq: 0 };

const listbox = el('ul', 'saved-reply-list');
listbox.id = 'saved-reply-list';
listbox.setAttribute('role', 'listbox');
listbox.setAttribute('aria-label', 'Saved replies');
listbox.hidden = true;
const announcer = el('p', 'visually-hidden');
announcer.setAttribute('role', 'status');

async function load() {
  if (state.replies && Date.now() - state.loadedAt < REFRESH_MS) return state.replies;
  if (!state.loading) {
    const url = `${page.dataset.savedRepliesUrl}?conversation_id=${encodeURIComponent(page.dataset.conversationId)}`;
    state.loading = apiFetch(url)
      .then((data) => {
        state.replies = data.results || [];
        state.loadedAt = Date.now();
        return state.replies;
      })
      .finally(() => {
        state.loading = null;
      });
  }
  return state.loading;
}

function close() {
  listbox.hidden = true;
  listbox.replaceChildren();
  state.matches = [];
  state.active = -1;
  input.setAttribute('aria-expanded', 'false');
  input.removeAttribute('aria-activedescendant');
}

function setActive(index) {
  state.active = index;
  listbox.querySelectorAll('[role=option]').forEach((node, i) => {
    node.setAttribute('aria-selected', String(i === index));
    if (i === index) {
      input.setAttribute('aria-activedescendant', node.id);
      node.scrollIntoView({ block: 'nearest' });
    }
  });
}

function render() {
  listbox.replaceChildren();
  state.matches.forEach((reply, i) => {
    const option = el('li', 'saved-reply-option');
    option.id = `saved-reply-${reply.id}`;
    option.setAttribute('role', 'option');
    option.dataset.shortcut = reply.shortcut;
    option.append(el('span', 'saved-reply-shortcut mono', `/${reply.shortcut}`), el('span', 'saved-reply-title', reply.title));
    option.append(el('span', 'saved-reply-preview', reply.text));
    option.addEventListener('mousedown', (event) => {
      event.preventDefault(); // keep the focus (and the caret) in the reply box
      choose(i);
    });
    listbox.append(option);
  });
  const open = state.matches.length > 0;
  listbox.hidden = !open;
  input.setAttribute('aria-expanded', String(open));
  announcer.textContent = open
    ? `${state.matches.length} saved ${state.matches.length === 1 ? 'reply' : 'replies'}; arrows to move, Enter to insert.`
    : state.token !== null
      ? 'No saved reply matches.'
      : '';
  if (open) setActive(0);
}

async function update() {
  const seq = ++state.seq;
  const before = input.value.slice(0, input.selectionStart);
  const match = input.selectionStart === input.selectionEnd ? TOKEN.exec(before) : null;
  if (!match) {
    state.token = null;
    close();
    return;
  }
  const query = match[2].toLowerCase();
  state.token = { start: before.length - query.length - 1, end: before.length };
  let replies;
  try {
    replies = await load();
  } catch {
    if (seq === state.seq) close();
    return;
  }
  if (seq !== state.seq) return; // a newer keystroke or a pick came meanwhile
  state.matches = replies.filter((r) => r.shortcut.startsWith(query)).slice(0, MAX_SHOWN);
  render();
}

function choose(index) {
  const reply = state.matches[index];
  if (!reply || !state.token) return;
  const { start, end } = state.token;
  state.seq += 1; // lookups still in flight are stale now
  input.value = input.value.slice(0, start) + reply.text + input.value.slice(end);
  const caret = start + reply.text.length;
  input.setSelectionRange(caret, caret);
  state.token = null;
  close();
  announcer.textContent = `Inserted /${reply.shortcut}.`;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  input.focus();
}

function onKeydown(event) {
  if (event.target !== input || listbox.hidden || event.isComposing) return;
  const n = state.matches.length;
  let handled = true;
  switch (event.key) {
    case 'ArrowDown':
      setActive((state.active + 1) % n);
      break;
    case 'ArrowUp':
      setActive((state.active - 1 + n) % n);
      break;
    case 'Enter':
    case 'Tab':
      if (event.shiftKey) handled = false;
      else choose(state.active);
      break;
    case 'Escape':
      state.seq += 1;
      state.token = null;
      close();
      break;
    default:
      handled = false;
  }
  if (handled) {
    event.preventDefault();
    event.stopPropagation();
  }
}

if (page && form && input && page.dataset.savedRepliesUrl) {
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', listbox.id);
  input.setAttribute('aria-expanded', 'false');
  form.classList.add('has-saved-replies');
  form.append(listbox, announcer);
  form.addEventListener('keydown', onKeydown, true);
  input.addEventListener('input', update);
  input.addEventListener('click', update);
  input.addEventListener('blur', () => setTimeout(close, 100));
}
