// The chat inside the widget's iframe: tells the host page's loader when the chat is ready and
// when the visitor closes it, and takes the accent colour. The chat itself is chat/chat.js.
// Messages carry no data, only these words, so they go to whichever page framed us.

const options = JSON.parse(document.getElementById('chat-options')?.textContent || '{}');
const status = document.getElementById('connection-status');
const input = document.getElementById('chat-input');

function tell(word) {
  if (window.parent !== window) window.parent.postMessage({ chatappWidget: word }, '*');
}

if (options.accent) {
  // Set through the CSSOM: the page's CSP allows no inline style.
  document.documentElement.style.setProperty('--brand', options.accent);
  document.documentElement.style.setProperty('--brand-strong', options.accent);
}

document.getElementById('widget-close').addEventListener('click', () => tell('close'));
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') tell('close');
});

// Ready once the socket first opens (chat.js shows it on #connection-status).
let ready = false;
function checkReady() {
  if (!ready && status.dataset.state === 'open') {
    ready = true;
    tell('ready');
  }
}
new MutationObserver(checkReady).observe(status, { attributes: true, attributeFilter: ['data-state'] });
checkReady();

window.addEventListener('message', (event) => {
  if (event.source === window.parent && event.data?.chatappWidget === 'focus') input.focus();
});
