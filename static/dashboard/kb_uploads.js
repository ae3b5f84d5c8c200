// File uploads for a knowledge base: XMLHttpRequest (fetch reports no upload progress), at most
// MAX_PARALLEL at once, and one row per file with a progress bar that goes on to show indexing.

import { ApiError, csrfToken } from '../shared/api.js';
import { el } from '../shared/messages.js';
import { isPending, statusLabel } from './kb_documents.js';

// Three keeps a batch moving without starving the page's own status polls of connections
// (browsers open six per host over HTTP/1.1).
export const MAX_PARALLEL = 3;

const FALLBACK_DETAILS = {
  413: 'The file is too large.',
  415: 'This file type is not supported.',
};

/** "2.1 MB", "340 KB", "12 bytes". */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} byte${bytes === 1 ? '' : 's'}`;
  const units = ['KB', 'MB', 'GB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * POST one file as multipart `file`. `onProgress(loaded, total)` follows the request body.
 * Resolves to the decoded answer (202 {id, status}); rejects with ApiError carrying the
 * server's `detail`.
 */
export function uploadFile(url, file, { onProgress, onSent } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('Accept', 'application/json');
    const token = csrfToken();
    if (token) xhr.setRequestHeader('X-CSRFToken', token);
    xhr.upload.addEventListener('progress', (event) => {
      if (onProgress) onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    });
    xhr.upload.addEventListener('load', () => onSent && onSent());
    xhr.addEventListener('load', () => {
      let data = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(data);
        return;
      }
      const error = data && typeof data === 'object' ? data.error : null;
      reject(
        new ApiError(
          xhr.status,
          (error && error.code) || `http_${xhr.status}`,
          (error && error.detail) || FALLBACK_DETAILS[xhr.status] || `The upload failed (HTTP ${xhr.status}).`,
        ),
      );
    });
    xhr.addEventListener('error', () => {
      reject(new ApiError(0, 'network_error', 'Could not reach the server. Check your connection and try again.'));
    });
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.')));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

/** Runs async jobs, at most `limit` at a time, in the order they were added. */
export class TaskPool {
  constructor(limit = MAX_PARALLEL) {
    this.limit = limit;
    this.running = 0;
    this.waiting = [];
  }

  add(job) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      this.next();
    });
  }

  next() {
    while (this.running < this.limit && this.waiting.length) {
      const { job, resolve, reject } = this.waiting.shift();
      this.running += 1;
      Promise.resolve()
        .then(job)
        .then(resolve, reject)
        .finally(() => {
          this.running -= 1;
          this.next();
        });
    }
  }
}

// States after which nothing more happens to an upload row.
export const SETTLED_STATES = new Set(['ready', 'failed', 'refused']);

/**
 * One upload's row: name, size, a state line, a progress bar and the server's detail on refusal.
 * States: waiting → uploading (percent) → processing → queued → indexing → ready | failed;
 * or refused (the API said no).
 */
export class UploadRow {
  constructor(list, name, size) {
    this.node = el('li', 'upload');
    this.name = name;
    const head = el('div', 'upload-head');
    head.append(el('span', 'upload-name', name));
    if (size !== null && size !== undefined) head.append(el('span', 'upload-size', formatBytes(size)));
    this.stateText = el('span', 'upload-state');
    head.append(this.stateText);
    this.bar = el('div', 'bar');
    this.bar.setAttribute('role', 'progressbar');
    this.bar.setAttribute('aria-label', `${name}`);
    this.bar.setAttribute('aria-valuemin', '0');
    this.bar.setAttribute('aria-valuemax', '100');
    this.fill = el('div', 'bar-fill');
    this.bar.append(this.fill);
    this.detail = el('p', 'upload-detail');
    this.detail.hidden = true;
    this.node.append(head, this.bar, this.detail);
    list.append(this.node);
    this.set('waiting', 'Waiting…', 0);
  }

  /** `percent` null: indeterminate (the server is busy with it). */
  set(state, text, percent) {
    this.node.dataset.state = state;
    this.stateText.textContent = text;
    if (percent === null) {
      this.bar.classList.add('indeterminate');
      this.bar.removeAttribute('aria-valuenow');
      this.fill.style.width = '';
    } else {
      this.bar.classList.remove('indeterminate');
      this.bar.setAttribute('aria-valuenow', String(Math.round(percent)));
      this.fill.style.width = `${percent}%`;
    }
    this.bar.setAttribute('aria-valuetext', text);
  }

  progress(loaded, total) {
    const percent = total ? Math.min(100, (loaded / total) * 100) : 0;
    this.set('uploading', `Uploading ${Math.round(percent)}%`, percent);
  }

  sent() {
    this.set('processing', 'Checking…', null);
  }

  /** Indexing status of the stored document (from the API). */
  status(doc) {
    this.node.dataset.documentId = doc.id;
    if (isPending(doc.status)) {
      this.set(doc.status, `${statusLabel(doc.status)}…`, null);
      return;
    }
    if (doc.status === 'ready') {
      const chunks = doc.chunks === undefined ? '' : ` · ${doc.chunks} chunk${doc.chunks === 1 ? '' : 's'}`;
      this.set('ready', `Ready${chunks}`, 100);
      return;
    }
    this.set(doc.status, statusLabel(doc.status), 100);
    if (doc.error) this.showDetail(doc.error);
  }

  refused(error) {
    this.set('refused', error.status ? `Refused (${error.status})` : 'Not sent', 100);
    this.showDetail(error.detail);
  }

  deleted() {
    this.set('failed', 'Deleted', 100);
  }

  showDetail(text) {
    this.detail.textContent = text;
    this.detail.hidden = false;
  }
}
