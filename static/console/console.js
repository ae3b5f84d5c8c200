// The agents' console. On the queue page: keep the rows live from /ws/console/.
// On a conversation page: live messages from /ws/conversations/<id>/ (session auth), and the
// claim / transfer / release / close / reply / note actions through the REST API.

import { apiFetch } from '../shared/api.js';
import { queueNotify } from './presence.js';
import { ReconnectingSocket, refusalMessage, wsUrl } from '../shared/ws.js';
import {
  applyDelta,
  applyDraft,
  el,
  formatTime,
  isNearBottom,
  localizeTimes,
  placeMessage,
  removeStreaming,
  renderMessage,
  scrollToBottom,
  timeElement,
} from '../shared/messages.js';

const CONNECTION_LABELS = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Disconnected — reload the page',
};

function readJson(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : {};
}

const STATUS_LABELS = readJson('status-labels');

function connectionIndicator(node) {
  return (status) => {
    node.dataset.state = status;
    node.textContent = CONNECTION_LABELS[status] || status;
  };
}

// --- the queue ----------------------------------------------------------------------------------

// Same groups as chatapp.console.selectors (RANK_*): waiting, mine, with the bot, the rest.
function rankOf(summary, me) {
  if (summary.status === 'waiting') return 0;
  if (summary.status === 'assigned' && summary.assignee && summary.assignee.id === me) return 1;
  if (summary.status === 'bot') return 2;
  return 3;
}

function buildRow(summary, me, urlTemplate) {
  const row = el('tr', 'queue-row');
  row.dataset.conversationId = summary.id;
  row.dataset.status = summary.status;
  row.dataset.rank = rankOf(summary, me);
  row.dataset.assigneeId = summary.assignee ? summary.assignee.id : '';
  row.dataset.last = summary.last_message_at || '';
  row.dataset.created = summary.created_at;

  const status = el('td', 'col-status');
  status.dataset.label = 'Status';
  status.append(el('span', `status-badge status-${summary.status}`, STATUS_LABELS[summary.status] || summary.status));
  if (summary.handoff_reason) status.append(' ', el('span', 'reason', summary.handoff_reason));

  const conv = el('td', 'col-conversation');
  conv.dataset.label = 'Conversation';
  const link = el('a', 'queue-link');
  link.href = urlTemplate.replace('00000000-0000-0000-0000-000000000000', summary.id);
  link.append(
    el('span', 'preview', summary.last_message || 'No messages yet'),
    el('span', 'conv-id', `#${summary.id.slice(0, 8)}`),
  );
  conv.append(link);

  const assignee = el('td', 'col-assignee', summary.assignee ? summary.assignee.username : '—');
  assignee.dataset.label = 'Assignee';

  const time = el('td', 'col-time');
  time.dataset.label = 'Last activity';
  const when = timeElement(summary.last_message_at || summary.created_at);
  when.className = '';
  time.append(when);

  row.append(status, conv, assignee, time);
  return row;
}

function stamp(row) {
  return Date.parse(row.dataset.last || '') || 0;
}

function sortRows(body) {
  const rows = Array.from(body.querySelectorAll('tr.queue-row'));
  rows.sort(
    (a, b) =>
      Number(a.dataset.rank) - Number(b.dataset.rank) ||
      stamp(b) - stamp(a) ||
      Date.parse(b.dataset.created) - Date.parse(a.dataset.created),
  );
  for (const row of rows) body.append(row); // append moves: the DOM follows the sorted order
}

function startQueue(table) {
  const body = document.getElementById('queue-body');
  const empty = document.getElementById('queue-empty');
  const announcer = document.getElementById('queue-announcer');
  const me = Number(table.dataset.userId);
  const urlTemplate = table.dataset.conversationUrl;
  localizeTimes(table);

  function upsert(summary) {
    const existing = body.querySelector(`tr[data-conversation-id="${CSS.escape(summary.id)}"]`);
    const row = buildRow(summary, me, urlTemplate);
    if (existing) {
      // Keep focus on the link being used when its row is rebuilt.
      const hadFocus = existing.contains(document.activeElement);
      existing.replaceWith(row);
      if (hadFocus) row.querySelector('a').focus();
    } else {
      body.append(row);
    }
    row.classList.add('row-flash');
    sortRows(body);
    empty.hidden = true;
    const wasWaiting = existing && existing.dataset.status === 'waiting';
    if (summary.status === 'waiting' && !wasWaiting) {
      announcer.textContent = `A conversation is waiting for an agent: ${summary.last_message || 'no message'}`;
    }
  }

  const indicator = document.getElementById('console-connection');
  const socket = new ReconnectingSocket(wsUrl('/ws/console/'), {
    onMessage(frame) {
      if (frame.type === 'conversation.updated') {
        upsert(frame.conversation);
        queueNotify(frame.conversation);
      }
    },
    onStatus: connectionIndicator(indicator),
    onFatal(code) {
      indicator.textContent = refusalMessage(code, 'staff');
    },
    onOpen({ reconnected }) {
      // Updates sent while disconnected are lost; the server-rendered page is the catch-up.
      if (reconnected) window.location.reload();
    },
  });
  socket.start();
}

// --- one conversation ---------------------------------------------------------------------------

function startConversation(root) {
  const log = document.getElementById('message-log');
  const scroller = document.getElementById('thread-scroll');
  const errorBox = document.getElementById('action-error');
  const actionStatus = document.getElementById('action-status');
  const replyForm = document.getElementById('reply-form');
  const replyInput = document.getElementById('reply-input');
  const replySend = document.getElementById('reply-send');
  const replyHint = document.getElementById('reply-hint');
  const claimButton = document.getElementById('claim-btn');
  const releaseButton = document.getElementById('release-btn');
  const closeButton = document.getElementById('close-btn');
  const transferForm = document.getElementById('transfer-form');
  const transferSelect = document.getElementById('transfer-select');
  const statusBadge = document.getElementById('conv-status');
  const assigneeCell = document.getElementById('conv-assignee');
  const handoffInfo = document.getElementById('handoff-info');
  const handoffReason = document.getElementById('handoff-reason');
  const handoffDetail = document.getElementById('handoff-detail');
  const notes = document.getElementById('notes');
  const notesEmpty = document.getElementById('notes-empty');
  const noteForm = document.getElementById('note-form');
  const noteInput = document.getElementById('note-input');

  const apiUrl = root.dataset.apiUrl;
  const me = Number(root.dataset.userId);
  const managesAny = root.dataset.managesAny === '1';  // admins; agents only what they hold
  const seen = new Set(Array.from(log.querySelectorAll('[data-message-id]'), (n) => n.dataset.messageId));
  const state = {
    status: root.dataset.status,
    assignee: root.dataset.assigneeId
      ? { id: Number(root.dataset.assigneeId), username: root.dataset.assigneeName }
      : null,
    busy: false,
  };

  function showError(detail) {
    errorBox.textContent = detail;
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = '';
  }

  function canReply() {
    return state.status === 'assigned' && state.assignee !== null && state.assignee.id === me;
  }

  function render() {
    root.dataset.status = state.status;
    root.dataset.assigneeId = state.assignee ? state.assignee.id : '';
    statusBadge.className = `status-badge status-${state.status}`;
    statusBadge.textContent = STATUS_LABELS[state.status] || state.status;
    assigneeCell.textContent = state.assignee ? state.assignee.username : '—';
    const mine = canReply();
    replyInput.disabled = !mine;
    replySend.disabled = !mine;
    replyHint.hidden = mine;
    replyHint.textContent =
      state.status === 'closed' ? 'The conversation is closed.' : 'Claim the conversation to reply.';
    claimButton.disabled = state.busy || mine;
    claimButton.textContent = state.assignee && !mine ? 'Take over' : 'Claim';
    const manages = managesAny || (state.assignee !== null && state.assignee.id === me);
    releaseButton.disabled = state.busy || !manages || state.status === 'bot';
    closeButton.disabled = state.busy || !manages || state.status === 'closed';
    transferForm.querySelector('button').disabled = state.busy || !manages;
  }

  function setHandoff(reason, detail) {
    handoffReason.textContent = reason || '';
    handoffDetail.textContent = detail || '';
    handoffInfo.hidden = !reason;
  }

  function applySummary(summary) {
    state.status = summary.status;
    state.assignee = summary.assignee;
    if (!summary.handoff_reason) setHandoff('', '');
    else if (summary.handoff_reason !== handoffReason.textContent) setHandoff(summary.handoff_reason, '');
    render();
  }

  function showMessage(message) {
    const key = String(message.id);
    if (seen.has(key)) return;
    seen.add(key);
    const stick = isNearBottom(scroller);
    placeMessage(log, renderMessage(message, { perspective: 'staff' }), message);
    if (stick) scrollToBottom(scroller);
  }

  /** Run one API action; the server's refusal detail is shown next to the thread. */
  async function act(label, done, url, body) {
    clearError();
    state.busy = true;
    render();
    actionStatus.textContent = `${label}…`;
    try {
      const result = await apiFetch(url, { method: 'POST', body });
      actionStatus.textContent = done;
      return result;
    } catch (error) {
      actionStatus.textContent = '';
      showError(error.detail || String(error));
      return null;
    } finally {
      state.busy = false;
      render();
    }
  }

  claimButton.addEventListener('click', async () => {
    const summary = await act('Claiming', 'You have the conversation.', `${apiUrl}/assign`, {});
    if (summary) {
      applySummary(summary);
      replyInput.focus();
    }
  });
  transferForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const agentId = Number(transferSelect.value);
    const summary = await act('Transferring', 'Transferred.', `${apiUrl}/assign`, { agent_id: agentId });
    if (summary) applySummary(summary);
  });
  releaseButton.addEventListener('click', async () => {
    const summary = await act('Handing back', 'Handed back to the assistant.', `${apiUrl}/release`, {});
    if (summary) applySummary(summary);
  });
  closeButton.addEventListener('click', async () => {
    const summary = await act('Closing', 'Closed.', `${apiUrl}/close`, {});
    if (summary) applySummary(summary);
  });
  replyForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = replyInput.value.trim();
    if (!text) return;
    const message = await act('Sending', '', `${apiUrl}/messages`, { text });
    if (message) {
      replyInput.value = '';
      showMessage(message);
      scrollToBottom(scroller);
    }
    if (!replyInput.disabled) replyInput.focus();
  });
  replyInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      replyForm.requestSubmit();
    }
  });
  noteForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = noteInput.value.trim();
    if (!text) return;
    const note = await act('Saving note', 'Note added.', `${apiUrl}/notes`, { text });
    if (!note) return;
    const item = el('li', 'note');
    item.append(el('p', 'note-text', note.text));
    const meta = el('p', 'note-meta', `${note.author || '—'} · `);
    const when = el('time', '', formatTime(note.created_at));
    when.dateTime = note.created_at;
    meta.append(when);
    item.append(meta);
    notes.append(item);
    notesEmpty.hidden = true;
    noteInput.value = '';
  });

  const socket = new ReconnectingSocket(wsUrl(root.dataset.wsPath), {
    onMessage(frame) {
      // Other modules of the page (copilot.js) read the frames without a socket of their own.
      root.dispatchEvent(new CustomEvent('console:frame', { detail: frame }));
      switch (frame.type) {
        case 'message.created':
          showMessage(frame.message);
          break;
        case 'answer.delta': {
          const stick = isNearBottom(scroller);
          applyDelta(log, frame);
          if (stick) scrollToBottom(scroller);
          break;
        }
        case 'answer.draft': {
          const stick = isNearBottom(scroller);
          applyDraft(log, frame);
          if (stick) scrollToBottom(scroller);
          break;
        }
        case 'turn.completed':
          removeStreaming(log, frame.turn_id);
          break;
        case 'conversation.handoff':
          if (state.status === 'bot') state.status = 'waiting';
          setHandoff(frame.reason, frame.detail);
          render();
          break;
        case 'conversation.assigned':
          state.status = frame.status;
          state.assignee = frame.assignee;
          if (frame.status === 'bot') setHandoff('', '');
          render();
          break;
        case 'error':
          showError(frame.detail);
          break;
        default:
          break;
      }
    },
    onStatus: connectionIndicator(document.getElementById('conversation-connection')),
    async onOpen({ reconnected }) {
      if (!reconnected) return;
      root.dispatchEvent(new CustomEvent('console:reconnected'));
      // Frames sent while we were away are lost: catch up from the API (the reply draft stays).
      try {
        const detail = await apiFetch(apiUrl);
        for (const message of detail.messages) showMessage(message);
        state.status = detail.status;
        state.assignee = detail.assignee;
        render();
      } catch (error) {
        showError(error.detail || String(error));
      }
    },
    onFatal(code) {
      showError(refusalMessage(code, 'staff'));
    },
  });

  localizeTimes(document);
  render();
  scrollToBottom(scroller);
  socket.start();
}

const queueTable = document.getElementById('queue');
const conversationRoot = document.getElementById('conversation');
if (queueTable) startQueue(queueTable);
if (conversationRoot) startConversation(conversationRoot);
