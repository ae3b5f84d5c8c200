// Copilot in the console: "Suggest a reply" asks the three models for a draft the agent can
// insert into the reply box, edit and send (sending stays the normal agent reply).
// It listens to the frames console.js receives (the `console:frame` event on #conversation)
// rather than opening a second socket; the suggestion is also read back over REST on reconnect.

import { apiFetch } from '../shared/api.js';
import { renderAnswerText, renderCitations } from '../shared/messages.js';

const VERDICT_LABELS = {
  approved: 'Checked against the knowledge base by the reviewer',
  revised: 'Rewritten once, then checked against the knowledge base by the reviewer',
  escalated: 'No confident suggestion',
  failed: 'The suggestion could not be drafted',
};

// The suggestion's [n] passage markers: shown as superscripts, left out of the inserted reply
// (an agent's reply carries no citations, so a bare [2] would puzzle the visitor).
const MARKER = /\s*\[\d+(?:\s*,\s*\d+)*\]/g;

/** The suggestion as the agent's reply: without passage markers. */
export function replyText(text) {
  return text.replace(MARKER, '').trim();
}

function startCopilot(root, box) {
  const button = document.getElementById('copilot-suggest');
  const panel = document.getElementById('copilot-panel');
  const status = document.getElementById('copilot-status');
  const text = document.getElementById('copilot-text');
  const sources = document.getElementById('copilot-sources');
  const verdict = document.getElementById('copilot-verdict');
  const insert = document.getElementById('copilot-insert');
  const replyInput = document.getElementById('reply-input');
  const url = box.dataset.copilotUrl;
  const me = Number(root.dataset.userId);
  const managesAny = root.dataset.managesAny === '1';
  // The turn shown; deltas of another turn (an older request) are ignored.
  const shown = { turnId: null, attempt: 0, stream: '', waiting: false, text: '' };

  function allowed() {
    const holder = Number(root.dataset.assigneeId || 0) === me;
    return root.dataset.status === 'assigned' && (holder || managesAny);
  }

  function render() {
    box.hidden = !allowed();
    button.disabled = shown.waiting || !allowed();
    insert.hidden = !shown.text;
    insert.disabled = replyInput.disabled;
  }

  function reset(turnId) {
    Object.assign(shown, { turnId, attempt: 0, stream: '', text: '' });
    text.textContent = '';
    sources.replaceChildren();
    verdict.textContent = '';
  }

  function showSuggestion(frame) {
    if (shown.turnId !== null && frame.turn_id !== shown.turnId) return;
    reset(frame.turn_id);
    shown.waiting = false;
    shown.text = frame.text;
    panel.hidden = false;
    if (frame.text) text.replaceChildren(renderAnswerText(frame.text));
    if (frame.citations && frame.citations.length) sources.append(renderCitations(frame.citations));
    const label = VERDICT_LABELS[frame.verdict] || frame.verdict;
    verdict.textContent = frame.reason ? `${label} (${frame.reason.replaceAll('_', ' ')})` : label;
    status.textContent = frame.text ? 'Suggestion ready.' : 'No suggestion.';
    render();
  }

  function showDelta(frame) {
    if (frame.turn_id !== shown.turnId) return;
    if (frame.attempt !== shown.attempt || frame.stream !== shown.stream) {
      // A rewrite or a stage run again restarts the text.
      text.textContent = '';
      shown.attempt = frame.attempt;
      shown.stream = frame.stream;
    }
    text.textContent += frame.text;
  }

  button.addEventListener('click', async () => {
    shown.waiting = true;
    panel.hidden = false;
    reset(null);
    status.textContent = 'Drafting a suggestion…';
    render();
    try {
      const started = await apiFetch(url, { method: 'POST', body: {} });
      if (shown.turnId === null) shown.turnId = started.turn_id;
    } catch (error) {
      shown.waiting = false;
      status.textContent = error.detail || String(error);
    }
    render();
  });

  insert.addEventListener('click', () => {
    if (!shown.text || replyInput.disabled) return;
    const current = replyInput.value.trim();
    const reply = replyText(shown.text);
    replyInput.value = current ? `${current}\n\n${reply}` : reply;
    replyInput.dispatchEvent(new Event('input', { bubbles: true }));
    replyInput.focus();
    replyInput.setSelectionRange(replyInput.value.length, replyInput.value.length);
  });

  async function catchUp() {
    // Frames sent while the socket was away are lost: read the latest suggestion back.
    if (!allowed()) return;
    try {
      const latest = await apiFetch(url);
      if (latest.turn_id === null) return;
      if (latest.suggestion) showSuggestion({ turn_id: latest.turn_id, ...latest.suggestion });
      else if (latest.status === 'running' && shown.turnId === latest.turn_id) shown.waiting = true;
    } catch {
      // Not fatal: the button still works.
    }
    render();
  }

  root.addEventListener('console:frame', (event) => {
    const frame = event.detail;
    if (frame.type === 'copilot.delta') showDelta(frame);
    else if (frame.type === 'copilot.suggestion') showSuggestion(frame);
    else if (frame.type === 'conversation.assigned') render();
  });
  root.addEventListener('console:reconnected', catchUp);
  // console.js keeps these attributes current (claim, release, transfer).
  new MutationObserver(render).observe(root, {
    attributes: true,
    attributeFilter: ['data-status', 'data-assignee-id'],
  });
  render();
}

const conversationRoot = document.getElementById('conversation');
const copilotBox = document.getElementById('copilot');
if (conversationRoot && copilotBox) startCopilot(conversationRoot, copilotBox);
