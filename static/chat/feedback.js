// Visitor feedback on the chat page: thumbs up/down (and an optional comment after a thumbs
// down) under each finished bot answer, and a 1-5 satisfaction prompt once the conversation is
// closed. chat.js knows nothing of it: this watches the message list and the chat's
// data-status, and reads the conversation's token where chat.js keeps it.

import { ApiError, apiFetch } from '../shared/api.js';
import { el } from '../shared/messages.js';

const STORAGE_KEY = 'chatapp.conversation'; // chat.js stores {id, token} there
const SVG_NS = 'http://www.w3.org/2000/svg';
const THUMB_PATH =
  'M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 ' +
  '7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z';
// Short words: five boxes share a phone's width.
const SCORES = [
  [1, 'Awful'],
  [2, 'Poor'],
  [3, 'OK'],
  [4, 'Good'],
  [5, 'Great'],
];

const root = document.getElementById('chat');
const log = document.getElementById('chat-log');
const scroller = document.getElementById('chat-scroll');

function conversation() {
  try {
    const data = JSON.parse(window.localStorage.getItem(STORAGE_KEY) || 'null');
    if (data && data.id === root.dataset.conversationId) return data;
  } catch {
    // no storage: nothing to rate with
  }
  return null;
}

async function post(path, body) {
  const conv = conversation();
  if (!conv) throw new ApiError(0, 'no_conversation', 'Reload the page to rate this conversation.');
  const base = `${root.dataset.createUrl}/${encodeURIComponent(conv.id)}`;
  return apiFetch(base + path, { method: 'POST', body, headers: { 'X-Conversation-Token': conv.token } });
}

function thumbIcon(down) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', down ? 'thumb-icon thumb-icon-down' : 'thumb-icon');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', THUMB_PATH);
  svg.append(path);
  return svg;
}

// --- thumbs under each answer -------------------------------------------------------------------

function attachThumbs(item) {
  const messageId = item.dataset.messageId;
  if (!messageId || item.querySelector('.answer-feedback')) return;
  const bar = el('div', 'answer-feedback');
  bar.setAttribute('role', 'group');
  bar.setAttribute('aria-label', 'Was this answer helpful?');
  bar.append(el('span', 'answer-feedback-label', 'Helpful?'));
  const buttons = {};
  for (const [rating, label] of [['up', 'Yes, this helped'], ['down', 'No, this did not help']]) {
    const button = el('button', `thumb thumb-${rating}`);
    button.type = 'button';
    button.title = label;
    button.setAttribute('aria-pressed', 'false');
    button.dataset.rating = rating;
    button.append(thumbIcon(rating === 'down'), el('span', 'visually-hidden', label));
    buttons[rating] = button;
    bar.append(button);
  }
  const status = el('span', 'answer-feedback-status');
  status.setAttribute('role', 'status');
  bar.append(status);

  const commentId = `feedback-comment-${messageId}`;
  const commentForm = el('form', 'answer-feedback-comment');
  commentForm.hidden = true;
  const label = el('label', null, 'What was wrong or missing? (optional)');
  label.htmlFor = commentId;
  const textarea = el('textarea');
  textarea.id = commentId;
  textarea.rows = 2;
  textarea.maxLength = 2000;
  const send = el('button', 'button small secondary', 'Send comment');
  send.type = 'submit';
  commentForm.append(label, textarea, send);

  async function rate(rating, comment) {
    status.textContent = 'Sending…';
    try {
      await post(`/messages/${encodeURIComponent(messageId)}/feedback`, comment ? { rating, comment } : { rating });
      for (const [key, button] of Object.entries(buttons)) {
        button.setAttribute('aria-pressed', String(key === rating));
      }
      item.dataset.feedback = rating;
      status.textContent = comment ? 'Thanks, we read every comment.' : 'Thanks for your feedback.';
      return true;
    } catch (error) {
      status.textContent = error instanceof ApiError ? error.detail : 'Could not send your feedback.';
      return false;
    }
  }

  buttons.up.addEventListener('click', async () => {
    if (await rate('up')) commentForm.hidden = true;
  });
  buttons.down.addEventListener('click', async () => {
    if (await rate('down')) {
      commentForm.hidden = false;
      textarea.focus();
    }
  });
  commentForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const comment = textarea.value.trim();
    if (comment && (await rate('down', comment))) {
      commentForm.hidden = true;
      buttons.down.focus();
    }
  });
  const bubble = item.querySelector('.msg-bubble') || item;
  bubble.after(bar, commentForm);
}

function scanAnswers() {
  for (const item of log.querySelectorAll('li.msg-bot[data-message-id]:not(.msg-streaming)')) {
    attachThumbs(item);
  }
}

// --- CSAT once the conversation is closed -------------------------------------------------------

let csat = null;

function buildCsat() {
  const form = el('form', 'csat');
  form.id = 'csat';
  const fieldset = el('fieldset', 'csat-scores');
  fieldset.append(el('legend', null, 'How satisfied are you with this conversation?'));
  const options = el('div', 'csat-options');
  for (const [score, text] of SCORES) {
    const id = `csat-score-${score}`;
    const radio = el('input');
    radio.type = 'radio';
    radio.name = 'score';
    radio.value = String(score);
    radio.id = id;
    const label = el('label', 'csat-option');
    label.htmlFor = id;
    label.append(el('span', 'csat-number', String(score)), el('span', 'csat-text', text));
    options.append(radio, label);
  }
  fieldset.append(options);
  const commentLabel = el('label', null, 'Anything to add? (optional)');
  commentLabel.htmlFor = 'csat-comment';
  const comment = el('textarea');
  comment.id = 'csat-comment';
  comment.rows = 2;
  comment.maxLength = 2000;
  const submit = el('button', 'button primary small', 'Send rating');
  submit.type = 'submit';
  submit.id = 'csat-submit';
  const status = el('p', 'csat-status');
  status.setAttribute('role', 'status');
  form.append(fieldset, commentLabel, comment, submit, status);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen = form.querySelector('input[name=score]:checked');
    if (!chosen) {
      status.textContent = 'Choose a score from 1 to 5 first.';
      return;
    }
    const body = { score: Number(chosen.value) };
    if (comment.value.trim()) body.comment = comment.value.trim();
    submit.disabled = true;
    try {
      await post('/csat', body);
      form.dataset.rated = chosen.value;
      status.textContent = `Thank you! You rated us ${chosen.value} of 5. You can change it at any time.`;
      status.scrollIntoView({ block: 'nearest' });
    } catch (error) {
      status.textContent = error instanceof ApiError ? error.detail : 'Could not send your rating.';
      status.scrollIntoView({ block: 'nearest' });
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function syncCsat() {
  const closed = root.dataset.status === 'closed';
  if (closed && !csat) {
    csat = buildCsat();
    log.after(csat);
    scroller.scrollTop = scroller.scrollHeight;
  } else if (!closed && csat) {
    csat.remove();
    csat = null;
  }
}

new MutationObserver(scanAnswers).observe(log, { childList: true });
new MutationObserver(syncCsat).observe(root, { attributes: true, attributeFilter: ['data-status'] });
scanAnswers();
syncCsat();
