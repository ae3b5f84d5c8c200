// The visitor's chat: resume or open a conversation, show its history, talk over the websocket.
// Messages show at once as "sending" and are confirmed by the server's message.created with the
// same client_msg_id; unconfirmed ones are resent (same id, so never stored twice) on reconnect.

import { ApiError, apiFetch } from '../shared/api.js';
import { ReconnectingSocket, refusalMessage, wsUrl } from '../shared/ws.js';
import {
  applyDelta,
  isNearBottom,
  localizeTimes,
  newUuid,
  placeMessage,
  removeStreaming,
  renderMessage,
  scrollToBottom,
} from '../shared/messages.js';

// Options of a page that embeds this chat (the widget's frame): its own storage key, its
// knowledge bases. The full page has none.
const OPTIONS = JSON.parse(document.getElementById('chat-options')?.textContent || '{}');
const STORAGE_KEY = OPTIONS.storage_key || 'chatapp.conversation';
const HANDOFF_TEXT = 'I want to talk to a person';
// A turn on a small CPU model can take a minute before the first words; the server ends every
// turn with turn.completed, this only stops a stale indicator after a missed frame.
const TYPING_TIMEOUT_MS = 120000;
// Unconfirmed this long, a message gets a "Retry" button (it is still resent on reconnect).
const CONFIRM_TIMEOUT_MS = 15000;

const BANNERS = {
  waiting: 'A person from our team will reply here.',
  closed: 'This conversation was closed. Write again if you need anything else.',
};
const CONNECTION_LABELS = {
  connecting: 'Connecting…',
  open: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Disconnected',
};

const root = document.getElementById('chat');
const log = document.getElementById('chat-log');
const scroller = document.getElementById('chat-scroll');
const form = document.getElementById('chat-form');
const input = document.getElementById('chat-input');
const handoffButton = document.getElementById('handoff-btn');
const banner = document.getElementById('handoff-banner');
const typing = document.getElementById('typing-indicator');
const errorBox = document.getElementById('chat-error');
const connection = document.getElementById('connection-status');
const emptyHint = document.getElementById('chat-empty');
const newConversation = document.getElementById('new-conversation');

const createUrl = root.dataset.createUrl;
const maxChars = Number(root.dataset.maxChars) || 4000;

const state = {
  conversation: null, // {id, token, websocket_url}
  status: 'bot',
  assignee: null,
  socket: null,
  seen: new Set(), // message ids on screen
  pending: new Map(), // client_msg_id -> {text, node, timer}
  typingTimer: null,
};

// --- storage -----------------------------------------------------------------------------------

function loadStored() {
  try {
    const data = JSON.parse(window.localStorage.getItem(STORAGE_KEY) || 'null');
    return data && data.id && data.token ? data : null;
  } catch {
    return null;
  }
}

function store(conversation) {
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(conversation));
  } catch {
    // Private mode without storage: the conversation lasts as long as the page.
  }
}

function forget() {
  try {
    window.localStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
}

// --- small UI helpers ---------------------------------------------------------------------------

function showError(detail) {
  errorBox.textContent = detail;
  errorBox.hidden = false;
}

function clearError() {
  errorBox.hidden = true;
  errorBox.textContent = '';
}

function setConnection(status) {
  connection.dataset.state = status;
  connection.textContent = CONNECTION_LABELS[status] || status;
}

function updateEmpty() {
  emptyHint.hidden = log.children.length > 0;
}

function append(node, { force = false } = {}) {
  const stick = force || isNearBottom(scroller);
  log.append(node);
  updateEmpty();
  if (stick) scrollToBottom(scroller);
}

function setTyping(on) {
  clearTimeout(state.typingTimer);
  typing.hidden = !on;
  if (on) state.typingTimer = setTimeout(() => setTyping(false), TYPING_TIMEOUT_MS);
}

function applyStatus(status, assignee) {
  state.status = status;
  state.assignee = assignee || null;
  root.dataset.status = status;
  let text = BANNERS[status] || '';
  if (status === 'assigned') {
    text = state.assignee
      ? `You're chatting with ${state.assignee.username} from our team.`
      : BANNERS.waiting;
  }
  banner.textContent = text;
  banner.hidden = !text;
  handoffButton.hidden = status !== 'bot';
  if (status !== 'bot') setTyping(false);
}

// --- messages -----------------------------------------------------------------------------------

function markSent(node, message) {
  node.dataset.state = 'sent';
  node.dataset.messageId = message.id;
  node.classList.remove('msg-pending', 'msg-failed');
  const badge = node.querySelector('.msg-state');
  if (badge) badge.remove();
}

function setPendingState(node, value, label) {
  node.dataset.state = value;
  node.classList.toggle('msg-pending', value === 'sending');
  node.classList.toggle('msg-failed', value === 'failed');
  let badge = node.querySelector('.msg-state');
  if (!badge) {
    badge = document.createElement('span');
    badge.className = 'msg-state';
    node.querySelector('.msg-meta').append(badge);
  }
  badge.textContent = label;
  if (value === 'failed') {
    const retry = document.createElement('button');
    retry.type = 'button';
    retry.className = 'link-button msg-retry';
    retry.textContent = 'Retry';
    retry.addEventListener('click', () => transmit(node.dataset.clientMsgId));
    badge.append(' ', retry);
  }
}

function showMessage(message) {
  const pending = message.client_msg_id ? state.pending.get(message.client_msg_id) : null;
  if (pending) {
    clearTimeout(pending.timer);
    state.pending.delete(message.client_msg_id);
    markSent(pending.node, message);
    state.seen.add(message.id);
    // The server reopens a closed conversation with the bot when the visitor writes again.
    if (state.status === 'closed') applyStatus('bot', null);
    if (state.status === 'bot') setTyping(true);
    return;
  }
  if (state.seen.has(message.id)) return;
  state.seen.add(message.id);
  const node = renderMessage(message, { perspective: 'visitor' });
  if (message.role === 'visitor') node.dataset.state = 'sent';
  const stick = isNearBottom(scroller);
  placeMessage(log, node, message);
  updateEmpty();
  if (stick) scrollToBottom(scroller);
  if (message.role === 'bot' || message.role === 'agent') setTyping(false);
  if (message.role === 'visitor' && state.status === 'bot') setTyping(true);
}

function transmit(clientMsgId) {
  const pending = state.pending.get(clientMsgId);
  if (!pending) return;
  setPendingState(pending.node, 'sending', 'Sending…');
  clearTimeout(pending.timer);
  pending.timer = setTimeout(() => {
    if (state.pending.has(clientMsgId)) setPendingState(pending.node, 'failed', 'Not delivered yet.');
  }, CONFIRM_TIMEOUT_MS);
  if (state.socket) {
    state.socket.send({ type: 'message.send', client_msg_id: clientMsgId, text: pending.text });
  }
}

function sendText(text) {
  const trimmed = text.trim();
  if (!trimmed) return false;
  if (trimmed.length > maxChars) {
    showError(`Messages are limited to ${maxChars} characters.`);
    return false;
  }
  clearError();
  const clientMsgId = newUuid();
  const node = renderMessage(
    { role: 'visitor', text: trimmed, client_msg_id: clientMsgId, created_at: new Date().toISOString() },
    { perspective: 'visitor' },
  );
  node.classList.add('msg-pending');
  state.pending.set(clientMsgId, { text: trimmed, node, timer: null });
  append(node, { force: true });
  transmit(clientMsgId);
  return true;
}

// --- server frames ------------------------------------------------------------------------------

function onFrame(frame) {
  switch (frame.type) {
    case 'message.created':
      showMessage(frame.message);
      break;
    case 'answer.delta': {
      const stick = isNearBottom(scroller);
      applyDelta(log, frame);
      updateEmpty();
      setTyping(true);
      if (stick) scrollToBottom(scroller);
      break;
    }
    case 'turn.completed':
      // The answered turn's bubble was already replaced by its message.created.
      removeStreaming(log, frame.turn_id);
      setTyping(false);
      break;
    case 'conversation.handoff':
      applyStatus(state.status === 'bot' ? 'waiting' : state.status, state.assignee);
      break;
    case 'conversation.assigned':
      applyStatus(frame.status, frame.assignee);
      break;
    case 'error':
      showError(frame.detail || 'Something went wrong.');
      break;
    default:
      break;
  }
}

// --- start-up -----------------------------------------------------------------------------------

function renderHistory(detail) {
  // aria-busy keeps screen readers from reading the whole history out as "new" messages.
  log.setAttribute('aria-busy', 'true');
  for (const message of detail.messages || []) showMessage(message);
  log.removeAttribute('aria-busy');
  applyStatus(detail.status || 'bot', detail.assignee);
  const last = (detail.messages || []).at(-1);
  // A turn already over (the last word is not the visitor's) leaves no bubble or indicator.
  if (!last || last.role !== 'visitor' || state.status !== 'bot') {
    removeStreaming(log);
    setTyping(false);
  }
  localizeTimes(log);
  scrollToBottom(scroller);
}

function historyUrl(conversation) {
  return `${createUrl}/${encodeURIComponent(conversation.id)}`;
}

async function fetchHistory(conversation) {
  return apiFetch(historyUrl(conversation), { headers: { 'X-Conversation-Token': conversation.token } });
}

async function openConversation() {
  const stored = loadStored();
  if (stored) {
    try {
      return { conversation: stored, detail: await fetchHistory(stored) };
    } catch (error) {
      if (!(error instanceof ApiError) || ![401, 403, 404].includes(error.status)) throw error;
      forget(); // expired or deleted: start a fresh conversation
    }
  }
  const body = OPTIONS.knowledge_base_ids?.length ? { knowledge_base_ids: OPTIONS.knowledge_base_ids } : {};
  const created = await apiFetch(createUrl, { method: 'POST', body });
  const conversation = { id: created.id, token: created.token, websocket_url: created.websocket_url };
  store(conversation);
  return { conversation, detail: { status: 'bot', assignee: null, messages: [] } };
}

async function onOpen({ reconnected }) {
  if (reconnected) {
    // Frames sent while we were away are lost: catch up from the API before resending.
    try {
      renderHistory(await fetchHistory(state.conversation));
    } catch {
      // Keep what is on screen; the next frames still arrive.
    }
  }
  for (const clientMsgId of state.pending.keys()) transmit(clientMsgId);
}

function connect(conversation) {
  const path =
    conversation.websocket_url ||
    `/ws/conversations/${encodeURIComponent(conversation.id)}/?token=${encodeURIComponent(conversation.token)}`;
  state.socket = new ReconnectingSocket(wsUrl(path), {
    onMessage: onFrame,
    onOpen,
    onStatus: setConnection,
    onFatal: (code) => showError(refusalMessage(code, 'visitor')),
  });
  state.socket.start();
}

function bindControls() {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (sendText(input.value)) {
      input.value = '';
      autoGrow();
    }
    input.focus();
  });
  input.addEventListener('keydown', (event) => {
    // Enter sends, Shift+Enter starts a new line; composing (IME) text is left alone.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener('input', autoGrow);
  handoffButton.addEventListener('click', () => sendText(HANDOFF_TEXT));
  newConversation.addEventListener('click', () => forget());
}

function autoGrow() {
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

async function main() {
  bindControls();
  setConnection('connecting');
  try {
    const { conversation, detail } = await openConversation();
    state.conversation = conversation;
    root.dataset.conversationId = conversation.id;
    renderHistory(detail);
    connect(conversation);
  } catch (error) {
    setConnection('closed');
    showError(error instanceof ApiError ? error.detail : 'The chat could not start. Reload the page to try again.');
  }
}

main();
