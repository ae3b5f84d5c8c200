// A websocket that stays connected: reconnects with capped exponential backoff and jitter, pings
// to notice dead connections, and stops for good on the server's auth close codes.

/** Close codes the consumers use when the socket may not join; reconnecting would not help. */
export const CLOSE_UNAUTHENTICATED = 4401;
export const CLOSE_FORBIDDEN = 4403;
const FATAL_CODES = new Set([CLOSE_UNAUTHENTICATED, CLOSE_FORBIDDEN]);

/**
 * A sentence for people when the server refused the socket for good (the reconnect loop stops).
 * `who` is "visitor" (token sockets) or "staff" (session sockets).
 */
export function refusalMessage(code, who) {
  if (who === 'visitor') {
    return code === CLOSE_UNAUTHENTICATED
      ? 'This conversation is no longer available. Start a new conversation.'
      : 'This page may not connect to the chat. Open the chat on our website.';
  }
  return code === CLOSE_UNAUTHENTICATED
    ? 'Your session has ended. Log in again, then reload the page.'
    : 'You may not follow this from here. Open the console on its own site, logged in as staff.';
}

/** ws:// or wss:// (matching the page) for a path such as "/ws/console/". */
export function wsUrl(path) {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}${path}`;
}

/**
 * Reconnecting JSON websocket.
 *
 * Callbacks: onMessage(frame), onOpen({reconnected}), onStatus(state) with state in
 * "connecting" | "open" | "reconnecting" | "closed", onFatal(code).
 */
export class ReconnectingSocket {
  constructor(url, options = {}) {
    this.url = url;
    this.onMessage = options.onMessage || (() => {});
    this.onOpen = options.onOpen || (() => {});
    this.onStatus = options.onStatus || (() => {});
    this.onFatal = options.onFatal || (() => {});
    // 25 s keeps idle proxies from dropping the socket; 10 s without any frame after a ping
    // means the connection is dead even if the browser has not noticed.
    this.pingIntervalMs = options.pingIntervalMs ?? 25000;
    this.pongTimeoutMs = options.pongTimeoutMs ?? 10000;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 15000;
    this.ws = null;
    this.failures = 0;
    this.openedOnce = false;
    this.stopped = false;
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this._onOnline = () => this._reconnectNow();
    this._onVisible = () => {
      if (document.visibilityState === 'visible') this._reconnectNow();
    };
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this._onOnline);
    document.addEventListener('visibilitychange', this._onVisible);
    this._connect();
  }

  /** Close for good (no reconnect). */
  stop() {
    this.stopped = true;
    window.removeEventListener('online', this._onOnline);
    document.removeEventListener('visibilitychange', this._onVisible);
    clearTimeout(this.reconnectTimer);
    this._clearPing();
    if (this.ws) this.ws.close(1000);
    this.onStatus('closed');
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a JSON frame; false when not connected (the caller keeps it to resend on open). */
  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  _connect() {
    if (this.stopped) return;
    this.onStatus(this.openedOnce ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      const reconnected = this.openedOnce;
      this.openedOnce = true;
      this.failures = 0;
      this.onStatus('open');
      this._startPing();
      this.onOpen({ reconnected });
    });
    ws.addEventListener('message', (event) => {
      clearTimeout(this.pongTimer);  // any frame proves the connection is alive
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && frame.type === 'pong') return;
      this.onMessage(frame);
    });
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this._clearPing();
      if (this.stopped) return;
      if (FATAL_CODES.has(event.code)) {
        this.stopped = true;
        this.onStatus('closed');
        this.onFatal(event.code);
        return;
      }
      this._scheduleReconnect();
    });
  }

  _scheduleReconnect() {
    if (this.stopped) return;
    this.onStatus('reconnecting');
    const exp = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** this.failures);
    const delay = exp / 2 + Math.random() * (exp / 2);  // jitter: clients do not return in lockstep
    this.failures += 1;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this._connect(), delay);
  }

  _reconnectNow() {
    if (this.stopped || this.ws !== null) return;
    clearTimeout(this.reconnectTimer);
    this.failures = 0;
    this._connect();
  }

  _startPing() {
    this._clearPing();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: 'ping' })) return;
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => this._drop(), this.pongTimeoutMs);
    }, this.pingIntervalMs);
  }

  /** Give up on a silent connection now: a dead socket's close event can take minutes. */
  _drop() {
    const ws = this.ws;
    this.ws = null;
    this._clearPing();
    if (ws) ws.close(4000);
    this._scheduleReconnect();
  }

  _clearPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }
}
