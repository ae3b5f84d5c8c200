// Message bubbles, citations, review badges and timestamps, shared by the chat and the console.
// Everything is built with DOM calls and textContent: message text is never parsed as HTML.
// templates/includes/message.html renders the same structure on the server.

export const REVIEW_LABELS = {
  approved: 'Reviewed ✓',
  revised: 'Reviewed after revision',
};

/** Only http(s) links from citations become hrefs (a javascript: URL must never be clickable). */
export function safeUrl(raw) {
  if (!raw) return null;
  try {
    const url = new URL(raw, window.location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** "14:05" today, "3 Mar, 14:05" on other days, in the browser's locale and time zone. */
export function formatTime(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return '';
  const time = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (when.toDateString() === new Date().toDateString()) return time;
  return `${when.toLocaleDateString([], { day: 'numeric', month: 'short' })}, ${time}`;
}

/** Rewrite server-rendered <time data-localize> (UTC) into the visitor's local time. */
export function localizeTimes(root = document) {
  for (const node of root.querySelectorAll('time[datetime][data-localize]')) {
    const text = formatTime(node.getAttribute('datetime'));
    if (text) node.textContent = text;
  }
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export function timeElement(iso) {
  const node = el('time', 'msg-time', formatTime(iso));
  node.dateTime = iso;
  node.dataset.localize = '';
  return node;
}

/** Who wrote it, from the reader's side: the visitor sees "You", staff see "Visitor". */
export function authorLabel(message, perspective) {
  switch (message.role) {
    case 'visitor':
      return perspective === 'visitor' ? 'You' : 'Visitor';
    case 'bot':
      return 'Assistant';
    case 'agent':
      return message.author || 'Support team';
    default:
      return '';
  }
}

export function renderReviewBadge(review) {
  const label = REVIEW_LABELS[review.verdict];
  if (!label) return null;
  const percent = Math.round(Number(review.confidence) * 100);
  const badge = el('span', `review-badge review-${review.verdict}`, label);
  badge.title = `Checked against our help articles; reviewer confidence ${percent}%`;
  badge.append(el('span', 'visually-hidden', ` (reviewer confidence ${percent}%)`));
  return badge;
}

export function renderCitations(citations) {
  const wrap = el('div', 'citations');
  wrap.append(el('p', 'citations-heading', 'Sources'));
  const list = el('ul', 'citation-list');
  for (const citation of citations) {
    const item = el('li', 'citation');
    item.dataset.documentId = citation.document_id;
    item.dataset.chunkId = citation.chunk_id;
    const href = safeUrl(citation.source_url);
    let title;
    if (href) {
      title = el('a', 'citation-title', citation.title);
      title.href = href;
      title.target = '_blank';
      title.rel = 'noopener noreferrer';
    } else {
      title = el('span', 'citation-title', citation.title);
    }
    item.append(title);
    if (citation.quote) item.append(el('blockquote', 'citation-quote', citation.quote));
    list.append(item);
  }
  wrap.append(list);
  return wrap;
}

const MARKER = /\s*\[(\d+(?:\s*,\s*\d+)*)\]/g;

/** A bot answer's text with its [n] passage markers shown as small superscripts (DOM only). */
export function renderAnswerText(text) {
  const p = el('p', 'msg-text');
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    p.append(document.createTextNode(text.slice(last, match.index)));
    const sup = el('sup', 'cite-marker', match[1].replace(/\s+/g, ''));
    sup.title = 'Source passage';
    p.append(sup);
    last = match.index + match[0].length;
  }
  p.append(document.createTextNode(text.slice(last)));
  return p;
}

/** One message as an <li> for a .messages list (perspective: "visitor" or "staff"). */
export function renderMessage(message, { perspective = 'visitor' } = {}) {
  const item = el('li', `msg msg-${message.role}`);
  item.dataset.role = message.role;
  if (message.id !== undefined && message.id !== null) item.dataset.messageId = message.id;
  if (message.client_msg_id) item.dataset.clientMsgId = message.client_msg_id;
  if (message.turn_id !== undefined && message.turn_id !== null) item.dataset.turnId = message.turn_id;
  if (message.role === 'system') {
    item.append(el('p', 'msg-text', message.text));
    return item;
  }
  const meta = el('div', 'msg-meta');
  meta.append(el('span', 'msg-author', authorLabel(message, perspective)));
  if (message.role === 'agent') meta.append(el('span', 'msg-tag', 'Support team'));
  if (message.created_at) meta.append(timeElement(message.created_at));
  const bubble = el('div', 'msg-bubble');
  bubble.append(message.role === 'bot' ? renderAnswerText(message.text) : el('p', 'msg-text', message.text));
  if (message.citations && message.citations.length) bubble.append(renderCitations(message.citations));
  if (message.review) {
    const badge = renderReviewBadge(message.review);
    if (badge) bubble.append(badge);
  }
  item.append(meta, bubble);
  return item;
}

/**
 * The bot's answer while it streams. Hidden from screen readers: the reviewed answer replaces
 * it and is announced once, instead of every few words.
 */
export function renderStreamingBubble(turnId, attempt) {
  const item = el('li', 'msg msg-bot msg-streaming');
  item.dataset.role = 'bot';
  item.dataset.turnId = turnId;
  item.dataset.attempt = attempt;
  item.setAttribute('aria-hidden', 'true');
  const meta = el('div', 'msg-meta');
  meta.append(el('span', 'msg-author', 'Assistant'), el('span', 'msg-tag', 'writing…'));
  const bubble = el('div', 'msg-bubble');
  bubble.append(el('p', 'msg-text', ''));
  item.append(meta, bubble);
  return item;
}

/**
 * A new attempt (a rewrite) or a new stream id (the stage run again after its worker died)
 * restarts a bubble's text; the same sentences are not shown twice.
 */
function restartIfNew(bubble, text, frame) {
  const stream = frame.stream || '';
  if (Number(bubble.dataset.attempt) !== Number(frame.attempt) || (bubble.dataset.stream || '') !== stream) {
    bubble.dataset.attempt = frame.attempt;
    bubble.dataset.stream = stream;
    text.textContent = '';
  }
}

/** Apply an answer.delta to the list. */
export function applyDelta(list, frame) {
  let bubble = list.querySelector(`.msg-streaming[data-turn-id="${CSS.escape(String(frame.turn_id))}"]`);
  if (!bubble) {
    bubble = renderStreamingBubble(frame.turn_id, frame.attempt);
    bubble.dataset.stream = frame.stream || '';
    list.append(bubble);
  }
  const text = bubble.querySelector('.msg-text');
  restartIfNew(bubble, text, frame);
  text.textContent += frame.text;
  return bubble;
}

/**
 * Staff only: the answerer's raw draft as it is written, before the reviewer has read it. Kept
 * apart from the reviewed stream (which is what the visitor sees) and clearly marked.
 */
export function applyDraft(list, frame) {
  const key = CSS.escape(String(frame.turn_id));
  let bubble = list.querySelector(`.msg-draft[data-turn-id="${key}"]`);
  if (!bubble) {
    bubble = el('li', 'msg msg-bot msg-draft');
    bubble.dataset.turnId = frame.turn_id;
    bubble.dataset.attempt = frame.attempt;
    bubble.dataset.stream = frame.stream || '';
    bubble.setAttribute('aria-hidden', 'true');
    const meta = el('div', 'msg-meta');
    meta.append(el('span', 'msg-author', 'Assistant'), el('span', 'msg-tag', 'draft, not yet reviewed'));
    const body = el('div', 'msg-bubble');
    body.append(el('p', 'msg-text', ''));
    bubble.append(meta, body);
    list.append(bubble);
  }
  const text = bubble.querySelector('.msg-text');
  restartIfNew(bubble, text, frame);
  text.textContent += frame.text;
  return bubble;
}

/** Put a bot message in place of its turn's streaming bubble (or at the end). */
export function placeMessage(list, node, message) {
  if (message.role === 'bot' && message.turn_id !== undefined && message.turn_id !== null) {
    const bubble = list.querySelector(`.msg-streaming[data-turn-id="${CSS.escape(String(message.turn_id))}"]`);
    if (bubble) {
      bubble.replaceWith(node);
      return;
    }
  }
  list.append(node);
}

/** Drop a turn's streaming bubble (turn.completed: escalated, failed or superseded). */
export function removeStreaming(list, turnId) {
  const selector = turnId === undefined
    ? '.msg-streaming, .msg-draft'
    : ['.msg-streaming', '.msg-draft'].map((c) => `${c}[data-turn-id="${CSS.escape(String(turnId))}"]`).join(', ');
  for (const node of list.querySelectorAll(selector)) node.remove();
}

/** Keep the newest message in view unless the reader scrolled up to read older ones. */
export function isNearBottom(scroller, slackPx = 80) {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < slackPx;
}

export function scrollToBottom(scroller) {
  scroller.scrollTop = scroller.scrollHeight;
}

/** crypto.randomUUID needs a secure context; plain-http LAN addresses get a v4 UUID by hand. */
export function newUuid() {
  if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
