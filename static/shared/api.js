// JSON over fetch for the chat, console and dashboard pages.
// Errors come back from the API as {"error": {"code", "detail"}}; they surface as ApiError so a page
// can show `detail` next to the control that failed.

/** An API call that did not succeed: HTTP status, the API's error code, a sentence for people. */
export class ApiError extends Error {
  constructor(status, code, detail, fields) {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.fields = fields || [];
  }
}

/** The csrftoken cookie Django sets (the console pages ask for it with ensure_csrf_cookie). */
export function csrfToken() {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === 'csrftoken') return decodeURIComponent(rest.join('='));
  }
  return '';
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Fetch JSON. `body` (any JSON value) is sent as application/json; unsafe methods carry the
 * X-CSRFToken header so a logged-in session passes Django's CSRF check.
 * Resolves to the decoded body (or null when empty); rejects with ApiError.
 */
export async function apiFetch(url, { method = 'GET', body, headers = {} } = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json', ...headers },
  };
  if (!SAFE_METHODS.has(method)) {
    const token = csrfToken();
    if (token) init.headers['X-CSRFToken'] = token;
  }
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, 'network_error', 'Could not reach the server. Check your connection and try again.');
  }
  const raw = await response.text();
  let data = null;
  if (raw) {
    try {
      data = JSON.parse(raw);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data && typeof data === 'object' ? data.error : null;
    throw new ApiError(
      response.status,
      (error && error.code) || `http_${response.status}`,
      (error && error.detail) || `The request failed (HTTP ${response.status}).`,
      error && error.fields,
    );
  }
  return data;
}
