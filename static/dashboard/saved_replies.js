// Saved replies admin page: add, edit and delete the team's replies through the JSON API.
// The list is server-rendered; this keeps it in step after each change without a reload.

import { ApiError, apiFetch } from '../shared/api.js';
import { el } from '../shared/messages.js';

const root = document.getElementById('saved-replies');
const apiUrl = root.dataset.apiUrl;
const list = document.getElementById('reply-list');
const empty = document.getElementById('reply-empty');
const form = document.getElementById('reply-form');
const idInput = document.getElementById('reply-id');
const shortcut = document.getElementById('reply-shortcut');
const title = document.getElementById('reply-title-input');
const body = document.getElementById('reply-body');
const errorBox = document.getElementById('reply-error');
const submit = document.getElementById('reply-submit');
const cancel = document.getElementById('reply-cancel');
const formTitle = document.getElementById('reply-form-title');
const status = document.getElementById('reply-status');

function showError(error) {
  const fields = error instanceof ApiError ? error.fields : [];
  const detail = error instanceof ApiError ? error.detail : 'Something went wrong.';
  errorBox.replaceChildren(el('p', null, detail));
  for (const f of fields) errorBox.append(el('p', null, `${f.field || 'reply'}: ${f.message}`));
  errorBox.hidden = false;
}

function renderItem(reply) {
  const item = el('li', 'reply-item');
  item.dataset.replyId = reply.id;
  item.dataset.shortcut = reply.shortcut;
  item.dataset.title = reply.title;
  item.dataset.body = reply.body;
  const head = el('div', 'reply-head');
  head.append(el('span', 'reply-shortcut mono', `/${reply.shortcut}`), el('span', 'reply-title', reply.title));
  const actions = el('div', 'reply-actions');
  for (const [cls, label] of [['secondary reply-edit', 'Edit'], ['danger reply-delete', 'Delete']]) {
    const button = el('button', `button small ${cls}`, label);
    button.type = 'button';
    button.append(el('span', 'visually-hidden', ` /${reply.shortcut}`));
    actions.append(button);
  }
  item.append(head, el('p', 'reply-body', reply.body), actions);
  return item;
}

function place(reply) {
  const node = renderItem(reply);
  const old = list.querySelector(`[data-reply-id="${reply.id}"]`);
  if (old) old.remove();
  const after = [...list.children].find((li) => li.dataset.shortcut > reply.shortcut);
  list.insertBefore(node, after || null);
  empty.hidden = list.children.length > 0;
  return node;
}

function resetForm() {
  form.reset();
  idInput.value = '';
  formTitle.textContent = 'Add a saved reply';
  submit.textContent = 'Add reply';
  cancel.hidden = true;
  errorBox.hidden = true;
}

function startEdit(item) {
  idInput.value = item.dataset.replyId;
  shortcut.value = item.dataset.shortcut;
  title.value = item.dataset.title;
  body.value = item.dataset.body;
  formTitle.textContent = `Edit /${item.dataset.shortcut}`;
  submit.textContent = 'Save changes';
  cancel.hidden = false;
  shortcut.focus();
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  errorBox.hidden = true;
  const data = { shortcut: shortcut.value.trim(), title: title.value.trim(), body: body.value.trim() };
  const editing = idInput.value;
  submit.disabled = true;
  try {
    const reply = await apiFetch(editing ? `${apiUrl}/${editing}` : apiUrl, {
      method: editing ? 'PATCH' : 'POST',
      body: data,
    });
    place(reply).querySelector('.reply-edit').focus();
    status.textContent = editing ? `Saved /${reply.shortcut}.` : `Added /${reply.shortcut}.`;
    resetForm();
  } catch (error) {
    showError(error);
  } finally {
    submit.disabled = false;
  }
});

cancel.addEventListener('click', () => {
  resetForm();
  shortcut.focus();
});

list.addEventListener('click', async (event) => {
  const item = event.target.closest('.reply-item');
  if (!item) return;
  if (event.target.closest('.reply-edit')) {
    startEdit(item);
    return;
  }
  if (!event.target.closest('.reply-delete')) return;
  if (!window.confirm(`Delete /${item.dataset.shortcut}?`)) return;
  try {
    await apiFetch(`${apiUrl}/${item.dataset.replyId}`, { method: 'DELETE' });
    status.textContent = `Deleted /${item.dataset.shortcut}.`;
    item.remove();
    empty.hidden = list.children.length > 0;
    if (idInput.value === item.dataset.replyId) resetForm();
  } catch (error) {
    showError(error);
  }
});
