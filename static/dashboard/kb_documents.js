// The documents table of a knowledge base: rows built like templates/dashboard/
// knowledge_document_row.html, live status from GET /api/v1/documents/<id> (polled every second
// while queued or indexing), and the counters above the table.

import { ApiError, apiFetch } from '../shared/api.js';
import { el, timeElement } from '../shared/messages.js';

export const STATUS_LABELS = {
  queued: 'Queued',
  indexing: 'Indexing',
  ready: 'Ready',
  failed: 'Failed',
};
const PENDING = new Set(['queued', 'indexing']);
export const POLL_INTERVAL_MS = 1000;

export const isPending = (status) => PENDING.has(status);
export const statusLabel = (status) => STATUS_LABELS[status] || status;

/**
 * Polls each watched document until it is ready or failed (or gone). One loop for all of them:
 * the next round starts a second after the previous one finished, so slow answers never pile up.
 */
export class StatusPoller {
  constructor(documentUrl, intervalMs = POLL_INTERVAL_MS) {
    this.documentUrl = documentUrl;
    this.intervalMs = intervalMs;
    this.listeners = new Map(); // id -> Set(callback)
    this.timer = null;
  }

  /** Call `callback(doc)` with every status seen for `id`, `callback(null)` if it was deleted. */
  watch(id, callback) {
    const key = String(id);
    if (!this.listeners.has(key)) this.listeners.set(key, new Set());
    this.listeners.get(key).add(callback);
    this.schedule();
  }

  schedule() {
    if (this.timer === null && this.listeners.size) {
      this.timer = window.setTimeout(() => this.round(), this.intervalMs);
    }
  }

  async round() {
    const ids = [...this.listeners.keys()];
    await Promise.all(ids.map((id) => this.pollOne(id)));
    this.timer = null;
    this.schedule();
  }

  async pollOne(id) {
    let doc;
    try {
      doc = await apiFetch(`${this.documentUrl}${id}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) doc = null;
      else return; // a network blip: try again next round
    }
    const callbacks = this.listeners.get(id);
    if (!callbacks) return;
    if (doc === null || !isPending(doc.status)) this.listeners.delete(id);
    for (const callback of callbacks) callback(doc);
  }
}

function statusCell(doc) {
  const cell = el('td', 'col-status');
  cell.dataset.label = 'Status';
  cell.append(el('span', `doc-status doc-${doc.status}`, statusLabel(doc.status)));
  if (doc.status === 'failed' && doc.error) cell.append(el('p', 'doc-error', doc.error));
  return cell;
}

function actionButton(action, label, title, variant) {
  const button = el('button', `button small ${variant}`, label);
  button.type = 'button';
  button.dataset.action = action;
  button.append(el('span', 'visually-hidden', ` ${title}`));
  return button;
}

function actionsCell(doc) {
  const cell = el('td', 'col-actions');
  const wrap = el('span', 'row-actions');
  if (doc.status === 'failed') wrap.append(actionButton('retry', 'Retry', doc.title, 'secondary'));
  wrap.append(actionButton('delete', 'Delete', doc.title, 'danger'));
  cell.append(wrap);
  return cell;
}

/** A <tr> for one document of the list endpoint (same markup as the server's). */
export function buildRow(doc) {
  const row = el('tr', 'doc-row');
  row.dataset.documentId = doc.id;
  row.dataset.status = doc.status;
  row.dataset.chunks = doc.chunks;

  const title = el('th', 'col-title');
  title.scope = 'row';
  title.append(el('span', 'doc-title', doc.title));
  if (doc.source_url) title.append(el('span', 'reason mono', doc.source_url));

  const file = el('td', 'col-file');
  file.dataset.label = 'File';
  file.append(el('span', 'mono', doc.filename || '—'));

  const chunks = el('td', 'num col-chunks', String(doc.chunks));
  chunks.dataset.label = 'Chunks';

  const updated = el('td', 'col-time');
  updated.dataset.label = 'Updated';
  updated.append(timeElement(doc.updated_at || new Date().toISOString()));

  row.append(title, file, statusCell(doc), chunks, updated, actionsCell(doc));
  return row;
}

/** Apply a status answer (GET /api/v1/documents/<id>) to an existing row, in place. */
export function updateRow(row, doc) {
  const changed = row.dataset.status !== doc.status;
  const errorNode = row.querySelector('.doc-error');
  const sameError = (errorNode ? errorNode.textContent : '') === (doc.status === 'failed' ? doc.error || '' : '');
  const sameTitle = row.querySelector('.doc-title').textContent === doc.title;
  // A poll that saw nothing new leaves the row (and any focused button in it) alone.
  if (!changed && sameError && sameTitle && row.dataset.chunks === String(doc.chunks)) return;
  row.dataset.status = doc.status;
  row.dataset.chunks = doc.chunks;
  row.querySelector('.doc-title').textContent = doc.title;
  row.querySelector('.col-status').replaceWith(statusCell(doc));
  row.querySelector('.col-chunks').textContent = String(doc.chunks);
  row.querySelector('.col-actions').replaceWith(actionsCell(doc));
  if (changed) {
    const time = row.querySelector('.col-time');
    time.replaceChildren(timeElement(new Date().toISOString()));
  }
}

/** The table, its empty note and the counters; keeps them consistent as rows change. */
export class DocumentTable {
  constructor({ body, empty, counts, listUrl, poller, announce }) {
    this.body = body;
    this.empty = empty;
    this.counts = counts;
    this.listUrl = listUrl;
    this.poller = poller;
    this.announce = announce;
    this.reloading = null;
    this.again = false;
    this.watched = new Set();
  }

  row(id) {
    return this.body.querySelector(`tr.doc-row[data-document-id="${CSS.escape(String(id))}"]`);
  }

  /** Start polling every row the server rendered as queued or indexing. */
  watchPending() {
    for (const row of this.body.querySelectorAll('tr.doc-row')) {
      if (isPending(row.dataset.status)) this.watch(row.dataset.documentId);
    }
  }

  /** Follow a document's status (once per document, however often it is asked). */
  watch(id) {
    const key = String(id);
    if (this.watched.has(key)) return;
    this.watched.add(key);
    this.poller.watch(key, (doc) => {
      if (doc === null || !isPending(doc.status)) this.watched.delete(key);
      this.onStatus(key, doc);
    });
  }

  onStatus(id, doc) {
    const row = this.row(id);
    if (doc === null) {
      if (row) row.remove();
      this.refreshCounts();
      return;
    }
    if (!row) return;
    const before = row.dataset.status;
    updateRow(row, doc);
    if (before !== doc.status && !isPending(doc.status)) {
      this.announce(`${doc.title}: ${statusLabel(doc.status)}.`);
    }
    this.refreshCounts();
  }

  /**
   * Re-read the list endpoint: new rows appear, changed ones update, deleted ones go. Calls made
   * while one runs are folded into one more run after it, so an older answer never lands last.
   */
  reload() {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.again = false;
        await this.reloadOnce();
      } while (this.again);
    })().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  async reloadOnce() {
    const data = await apiFetch(this.listUrl);
    const seen = new Set();
    let previous = null;
    for (const doc of data.results) {
      const id = String(doc.id);
      seen.add(id);
      // Rows whose data did not change stay as they are, so a focused button keeps focus.
      const signature = JSON.stringify(doc);
      let node = this.row(id);
      if (!node || node.dataset.signature !== signature) {
        const fresh = buildRow(doc);
        fresh.dataset.signature = signature;
        if (node) node.replaceWith(fresh);
        node = fresh;
      }
      // Keep the server's order (newest change first), moving only rows out of place.
      const wanted = previous ? previous.nextElementSibling : this.body.firstElementChild;
      if (wanted !== node) {
        if (previous) previous.after(node);
        else this.body.prepend(node);
      }
      previous = node;
      if (isPending(doc.status)) this.watch(id);
    }
    for (const row of this.body.querySelectorAll('tr.doc-row')) {
      if (!seen.has(row.dataset.documentId)) row.remove();
    }
    this.refreshCounts();
  }

  refreshCounts() {
    const rows = [...this.body.querySelectorAll('tr.doc-row')];
    const tally = { documents: rows.length, ready: 0, pending: 0, failed: 0, chunks: 0 };
    for (const row of rows) {
      const status = row.dataset.status;
      if (status === 'ready') tally.ready += 1;
      else if (status === 'failed') tally.failed += 1;
      else if (isPending(status)) tally.pending += 1;
      tally.chunks += Number(row.dataset.chunks) || 0;
    }
    for (const node of this.counts.querySelectorAll('[data-count]')) {
      node.textContent = String(tally[node.dataset.count] ?? node.textContent);
    }
    this.empty.hidden = rows.length > 0;
  }
}
