// Import jobs of a knowledge base: a .zip or .jsonl file sent as one bulk import, "index all
// again", and the latest jobs with live progress (GET /api/v1/imports/<id>, polled every second
// while a job runs). Refused and failed items are listed under each job.

import { ApiError, csrfToken } from '../shared/api.js';
import { el } from '../shared/messages.js';

export const POLL_INTERVAL_MS = 1000;
const TYPES = {
  zip: 'application/zip',
  jsonl: 'application/x-ndjson',
  ndjson: 'application/x-ndjson',
};
const STATUS_LABELS = { receiving: 'Receiving', queued: 'Queued', running: 'Running', done: 'Done' };
const KIND_LABELS = { import: 'Import', reindex: 'Re-index' };

/** The request body type of a bulk import file, by its extension; null when unsupported. */
export function importType(name) {
  const ext = name.toLowerCase().split('.').pop();
  return TYPES[ext] || null;
}

/** POST a .zip or .jsonl file as one import job; resolves to the job (202). */
export async function sendImport(url, file) {
  const type = importType(file.name);
  if (!type) throw new ApiError(0, 'unsupported_media_type', 'Choose a .zip archive or a .jsonl file.');
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'Content-Type': type, 'X-CSRFToken': csrfToken() },
      body: file,
    });
  } catch {
    throw new ApiError(0, 'network_error', 'Could not reach the server. Check your connection and try again.');
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    throw new ApiError(response.status, error.code || `http_${response.status}`, error.detail || `HTTP ${response.status}`);
  }
  return data;
}

/** "340 of 1,200 documents: 330 ready, 3 failed, 7 refused · 350 chunks". */
export function summary(job) {
  const d = job.documents;
  const parts = [`${d.ready} ready`];
  if (d.unchanged) parts.push(`${d.unchanged} unchanged`);
  if (d.failed) parts.push(`${d.failed} failed`);
  if (d.refused) parts.push(`${d.refused} refused`);
  if (d.superseded) parts.push(`${d.superseded} replaced meanwhile`);
  const n = (value) => value.toLocaleString();
  return `${n(d.done)} of ${n(d.total)} documents: ${parts.join(', ')} · ${n(job.chunks)} chunks`;
}

function jobItem(job) {
  const node = el('li', 'import-job');
  node.dataset.jobId = job.id;
  node.dataset.status = job.status;
  const head = el('div', 'upload-head');
  head.append(
    el('span', 'upload-name', `${KIND_LABELS[job.kind] || job.kind} #${job.id}`),
    el('span', 'upload-size', job.source),
    el('span', 'upload-state', STATUS_LABELS[job.status] || job.status),
  );
  const bar = el('div', 'bar');
  const fill = el('div', 'bar-fill');
  const total = job.documents.total || 1;
  fill.style.width = `${Math.round((100 * job.documents.done) / total)}%`;
  bar.append(fill);
  bar.setAttribute('role', 'progressbar');
  bar.setAttribute('aria-valuemin', '0');
  bar.setAttribute('aria-valuemax', String(job.documents.total));
  bar.setAttribute('aria-valuenow', String(job.documents.done));
  bar.setAttribute('aria-label', `${KIND_LABELS[job.kind] || job.kind} #${job.id}: documents done`);
  node.append(head, bar, el('p', 'import-counts', summary(job)));
  if (job.errors && job.errors.length) {
    const details = el('details', 'import-errors');
    const n = job.documents.failed + job.documents.refused;
    details.append(el('summary', '', `${n} not indexed${job.errors_truncated ? ' (first ones below)' : ''}`));
    const list = el('ul', '');
    for (const item of job.errors) {
      const line = el('li', '');
      line.append(el('span', 'mono', item.name), `: ${item.error}`);
      list.append(line);
    }
    details.append(list);
    node.append(details);
  }
  return node;
}

/** The list of jobs: rendered from the API, polled while running, `onChange()` as they move. */
export class ImportJobs {
  constructor({ list, empty, listUrl, jobUrl, onChange, announce }) {
    Object.assign(this, { list, empty, listUrl, jobUrl, onChange, announce });
    this.running = new Set();
    this.timer = null;
  }

  async load() {
    const response = await fetch(this.listUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (!response.ok) return;
    const { results } = await response.json();
    this.list.replaceChildren();
    for (const job of results) {
      this.show(job);
      const problems = job.documents.failed + job.documents.refused;
      if (job.status !== 'done' || problems) this.follow(job.id);
    }
    this.sync();
  }

  /** Render a job (new ones go first) and keep polling it until it is done. */
  show(job) {
    const fresh = jobItem(job);
    const old = this.list.querySelector(`li.import-job[data-job-id="${CSS.escape(String(job.id))}"]`);
    if (old) {
      const details = old.querySelector('details');
      const open = details && details.open;
      old.replaceWith(fresh);
      if (open && fresh.querySelector('details')) fresh.querySelector('details').open = true;
    } else {
      this.list.prepend(fresh);
    }
    this.sync();
  }

  follow(id) {
    this.running.add(String(id));
    this.schedule(0);
  }

  schedule(delay = POLL_INTERVAL_MS) {
    if (this.timer === null && this.running.size) {
      this.timer = window.setTimeout(() => this.round(), delay);
    }
  }

  async round() {
    let moved = false;
    await Promise.all(
      [...this.running].map(async (id) => {
        try {
          const response = await fetch(`${this.jobUrl}${id}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
          if (response.status === 404) {
            this.running.delete(id);
            return;
          }
          if (!response.ok) return; // a blip: next round
          const job = await response.json();
          const before = this.list.querySelector(`li.import-job[data-job-id="${CSS.escape(id)}"]`);
          const changed = !before || before.querySelector('.import-counts').textContent !== summary(job) || before.dataset.status !== job.status;
          if (changed) {
            this.show(job);
            moved = true;
          }
          if (job.status === 'done') {
            this.running.delete(id);
            if (changed) this.announce(`${KIND_LABELS[job.kind] || job.kind} #${job.id} done: ${summary(job)}.`);
          }
        } catch {
          // network blip: try again next round
        }
      }),
    );
    this.timer = null;
    if (moved) this.onChange(this.running.size === 0);
    this.schedule();
  }

  sync() {
    this.empty.hidden = this.list.children.length > 0;
  }
}
