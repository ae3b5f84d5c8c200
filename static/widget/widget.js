// chatapp widget loader, for host pages: <script src="https://CHATAPP/widget.js" async data-…>.
// A chat bubble in a closed shadow root (the host page's CSS and scripts cannot reach it) that
// opens an iframe of CHATAPP/widget/frame/: the chat page itself, on chatapp's origin, so its
// visitor token (the frame's localStorage) outlives navigation on the host site. The panel's
// open state is kept in the host's sessionStorage. Attributes (all optional): data-title,
// data-accent (#rgb or #rrggbb), data-position (right|left), data-knowledge-bases (ids: 1,2).
(() => {
  const script = document.currentScript;
  if (!script || window.chatappWidget) return;
  const P = 'chatapp-widget';
  const mark = (name) => performance.mark(`${P}:${name}`);
  const warn = (text) => console.warn(`[${P}] not mounted: ${text}`);
  mark('start');
  const base = new URL(script.src).origin;
  const data = script.dataset;
  const title = (data.title || '').trim();
  const accent = (data.accent || '').trim();
  const kb = (data.knowledgeBases || '').replace(/\s/g, '');
  const side = data.position || 'right';
  if (title.length > 80) return warn('data-title is longer than 80 characters.');
  if (accent && !/^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(accent)) {
    return warn('data-accent must be a colour like #7a4a1f.');
  }
  if (kb && !/^\d+(,\d+)*$/.test(kb)) return warn('data-knowledge-bases must be ids like "1,2".');
  if (side !== 'right' && side !== 'left') return warn('data-position must be right or left.');
  window.chatappWidget = {};

  const query = new URLSearchParams();
  if (kb) query.set('kb', kb);
  if (title) query.set('title', title);
  if (accent) query.set('accent', accent);
  const frameUrl = `${base}/widget/frame/?${query}`;
  const KEY = `${P}:open`;
  const remember = (value) => {
    try {
      sessionStorage.setItem(KEY, value);
    } catch {
      // no storage (sandboxed page): the panel just starts closed on the next page
    }
  };

  // !important on :host beats the host page's rules, even its !important ones.
  const CSS = `:host{all:initial!important;display:block!important}
.w{position:fixed;bottom:20px;${side}:20px;z-index:2147483647;font:16px/1.4 system-ui,sans-serif}
.b{width:56px;height:56px;border:0;border-radius:50%;padding:0;cursor:pointer;display:grid;
place-items:center;background:${accent || '#7a4a1f'};color:#fff;box-shadow:0 4px 14px #0004}
.b:focus-visible{outline:3px solid #1a5fb4;outline-offset:3px}.b svg{width:28px;height:28px}
.p{position:fixed;bottom:88px;${side}:20px;width:min(380px,calc(100vw - 40px));
height:min(620px,calc(100vh - 110px));border-radius:12px;overflow:hidden;background:#fff;
box-shadow:0 8px 30px #0005}.p[hidden]{display:none}
iframe{width:100%;height:100%;border:0;display:block}
@media (max-width:480px){.p{inset:0;width:auto;height:auto;border-radius:0}.o .b{display:none}}`;
  const ICON = '<path d="M4 5h16v11H8l-4 4z" fill="currentColor"/>';
  const CLOSE = '<path d="M6 6l12 12M18 6L6 18" stroke="currentColor" stroke-width="2.4"/>';

  function mount() {
    const host = document.createElement(P);
    const root = host.attachShadow({ mode: 'closed' });
    const sheet = new CSSStyleSheet(); // adopted, so a host CSP without 'unsafe-inline' is fine
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
    root.innerHTML = `<div class="w"><div class="p" id="p" role="dialog" hidden></div>
<button class="b" type="button" aria-controls="p" aria-expanded="false"></button></div>`;
    const wrap = root.firstChild;
    const panel = root.getElementById('p');
    const bubble = root.querySelector('button');
    panel.setAttribute('aria-label', title || 'Chat');
    let frame = null;
    let ready = false; // the frame said its chat is connected (and can take messages)
    let focusWanted = false;

    const focusChat = () => frame.contentWindow.postMessage({ chatappWidget: 'focus' }, base);
    function setOpen(open, focus) {
      if (open && !frame) {
        // Created on first open only: the frame starts a conversation.
        frame = document.createElement('iframe');
        frame.title = title || 'Chat';
        frame.src = frameUrl;
        panel.append(frame);
      }
      panel.hidden = !open;
      wrap.classList.toggle('o', open);
      host.dataset.state = open ? 'open' : 'closed';
      bubble.setAttribute('aria-expanded', String(open));
      bubble.setAttribute('aria-label', open ? 'Close chat' : 'Open chat');
      bubble.innerHTML = `<svg viewBox="0 0 24 24" aria-hidden="true">${open ? CLOSE : ICON}</svg>`;
      remember(open ? '1' : '');
      if (open && focus) {
        focusWanted = true;
        if (ready) focusChat();
      }
      if (!open && focus) bubble.focus();
    }

    bubble.addEventListener('click', () => setOpen(panel.hidden, true));
    window.addEventListener('message', (event) => {
      if (!frame || event.origin !== base || event.source !== frame.contentWindow) return;
      const word = event.data && event.data.chatappWidget;
      if (word === 'ready') {
        ready = true;
        mark('ready');
        if (focusWanted) focusChat();
      } else if (word === 'close') setOpen(false, true);
    });
    let open = false;
    try {
      open = sessionStorage.getItem(KEY) === '1';
    } catch {
      // no storage: closed
    }
    setOpen(open, false);
    document.body.append(host);
    window.chatappWidget = { open: () => setOpen(true, true), close: () => setOpen(false, false) };
    mark('bubble');
  }

  // The server says whether this page's origin may embed the chat (the browser sets Origin).
  fetch(`${base}/widget/config`, { credentials: 'omit' })
    .then((response) => response.json().then((body) => [response.ok, body]))
    .then(([ok, body]) => {
      if (!ok) return warn(body.error?.detail || 'refused.');
      if (document.body) return mount();
      return document.addEventListener('DOMContentLoaded', mount);
    })
    .catch(() => warn(`${base} could not be reached.`));
})();
