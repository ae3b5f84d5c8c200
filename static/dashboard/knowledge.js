// The knowledge-base admin pages. The list page creates knowledge bases; a knowledge base's page
// uploads documents (with progress, then live indexing status), retries and deletes them, runs
// "try it" searches and manages curated answers, all through the REST API with the session.

import { apiFetch } from '../shared/api.js';
import { el, localizeTimes } from '../shared/messages.js';
import { DocumentTable, StatusPoller, statusLabel } from './kb_documents.js';
import { ImportJobs, sendImport } from './kb_imports.js';
import { renderResults } from './kb_search.js';
import { SETTLED_STATES, TaskPool, UploadRow, uploadFile } from './kb_uploads.js';

function showError(node, message) {
  node.textContent = message;
  node.hidden = !message;
}

/** Disable a form's submit button while `work` runs; errors go to `errorNode`. */
async function submitting(form, errorNode, work) {
  const button = form.querySelector('[type=submit]');
  showError(errorNode, '');
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    showError(errorNode, error.detail || String(error));
  } finally {
    button.disabled = false;
  }
}

// --- the list page ------------------------------------------------------------------------------

function initCreateForm(form) {
  const errorNode = document.getElementById('kb-create-error');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = form.elements.name.value.trim();
    if (!name) {
      showError(errorNode, 'Give the knowledge base a name.');
      form.elements.name.focus();
      return;
    }
    submitting(form, errorNode, async () => {
      await apiFetch(form.dataset.apiUrl, {
        method: 'POST',
        body: {
          name,
          description: form.elements.description.value.trim(),
          is_default: form.elements.is_default.checked,
          visibility: form.elements.public.checked ? 'public' : 'internal',
        },
      });
      window.location.reload();
    });
  });
}

// --- a knowledge base's page --------------------------------------------------------------------

function initDocuments(root, table, announce) {
  const errorNode = document.getElementById('documents-error');
  table.body.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const row = button.closest('tr.doc-row');
    const id = row.dataset.documentId;
    const title = row.querySelector('.doc-title').textContent;
    showError(errorNode, '');
    if (button.dataset.action === 'delete') {
      const chunks = Number(row.dataset.chunks) || 0;
      const what = chunks ? ` and its ${chunks} chunk${chunks === 1 ? '' : 's'}` : '';
      if (!window.confirm(`Delete “${title}”${what}? The assistant stops using it at once.`)) return;
      button.disabled = true;
      try {
        await apiFetch(`${root.dataset.documentUrl}${id}`, { method: 'DELETE' });
        // A poll still following it hears 404 and marks its upload row "Deleted".
        row.remove();
        table.refreshCounts();
        announce(`${title} deleted.`);
        document.getElementById('documents-title').focus(); // the button is gone; keep focus nearby
      } catch (error) {
        button.disabled = false;
        showError(errorNode, `${title}: ${error.detail}`);
      }
    } else if (button.dataset.action === 'retry') {
      button.disabled = true;
      try {
        const doc = await apiFetch(`${root.dataset.documentUrl}${id}/retry`, { method: 'POST' });
        table.onStatus(id, { id: doc.id, title, status: doc.status, chunks: 0, error: null });
        table.watch(id);
        announce(`${title}: ${statusLabel(doc.status)}.`);
      } catch (error) {
        button.disabled = false;
        showError(errorNode, `${title}: ${error.detail}`);
      }
    }
  });
}

function initUploads(root, table) {
  const list = document.getElementById('upload-list');
  const input = document.getElementById('file-input');
  const zone = document.getElementById('dropzone');
  const pool = new TaskPool();
  const head = document.getElementById('uploads-head');
  const syncHead = () => {
    head.hidden = list.children.length === 0;
  };
  document.getElementById('uploads-clear').addEventListener('click', () => {
    for (const item of [...list.children]) {
      if (SETTLED_STATES.has(item.dataset.state)) item.remove();
    }
    syncHead();
    if (head.hidden) document.getElementById('file-choose').focus(); // the button just vanished
  });

  // An accepted document: follow its indexing, and show it in the table.
  const follow = (row, accepted) => {
    row.status(accepted);
    table.poller.watch(accepted.id, (doc) => (doc === null ? row.deleted() : row.status(doc)));
    table.reload().catch(() => {});
  };

  const send = (file) => {
    const row = new UploadRow(list, file.name, file.size);
    syncHead();
    pool
      .add(() =>
        uploadFile(root.dataset.documentsUrl, file, {
          onProgress: (loaded, total) => row.progress(loaded, total),
          onSent: () => row.sent(),
        }),
      )
      .then((accepted) => follow(row, accepted), (error) => row.refused(error));
  };

  document.getElementById('file-choose').addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    for (const file of input.files) send(file);
    input.value = ''; // choosing the same file again fires change again
  });

  let depth = 0; // dragenter/leave fire for every child; count to know when the drag left
  zone.addEventListener('dragenter', (event) => {
    event.preventDefault();
    depth += 1;
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove('dragging');
  });
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove('dragging');
    for (const file of event.dataTransfer.files) send(file);
  });
  // A file dropped next to the zone must not replace the page with the file (dragged text
  // still drops into the text fields).
  const carriesFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes('Files');
  window.addEventListener('dragover', (event) => carriesFiles(event) && event.preventDefault());
  window.addEventListener('drop', (event) => carriesFiles(event) && event.preventDefault());

  const paste = document.getElementById('paste-form');
  const pasteError = document.getElementById('paste-error');
  paste.addEventListener('submit', (event) => {
    event.preventDefault();
    const title = paste.elements.title.value.trim();
    const text = paste.elements.text.value;
    if (!title || !text.trim()) {
      showError(pasteError, 'Both a title and some text are needed.');
      (title ? paste.elements.text : paste.elements.title).focus();
      return;
    }
    submitting(paste, pasteError, async () => {
      const accepted = await apiFetch(root.dataset.documentsUrl, { method: 'POST', body: { title, text } });
      const row = new UploadRow(list, title, new Blob([text]).size);
      syncHead();
      follow(row, accepted);
      paste.reset();
    });
  });
}

function initSearch(root) {
  const form = document.getElementById('search-form');
  const errorNode = document.getElementById('search-error');
  const status = document.getElementById('search-status');
  const results = document.getElementById('search-results');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = form.elements.query.value;
    status.textContent = 'Searching…';
    results.setAttribute('aria-busy', 'true');
    submitting(form, errorNode, async () => {
      try {
        const data = await apiFetch(root.dataset.searchUrl, {
          method: 'POST',
          body: { query, k: Number(form.elements.k.value) },
        });
        renderResults(results, data.results);
        const n = data.results.length;
        status.textContent = n
          ? `${n} passage${n === 1 ? '' : 's'}, best first.`
          : 'Nothing found: the assistant would hand this question to the team.';
      } catch (error) {
        results.replaceChildren();
        status.textContent = '';
        throw error;
      } finally {
        results.removeAttribute('aria-busy');
      }
    });
  });
}

function curatedItem(item) {
  const node = el('li', 'curated');
  node.dataset.curatedId = item.id;
  const body = el('div', 'curated-body');
  const question = el('p', 'curated-question', item.question);
  if (!item.is_active) question.append(' ', el('span', 'status-badge', 'Inactive'));
  body.append(question, el('p', 'curated-answer', item.answer));
  const button = el('button', 'button small danger', 'Delete');
  button.type = 'button';
  button.dataset.action = 'delete';
  button.append(el('span', 'visually-hidden', ` curated answer “${item.question}”`));
  node.append(body, button);
  return node;
}

function initCurated(root, announce) {
  const list = document.getElementById('curated-list');
  const empty = document.getElementById('curated-empty');
  const form = document.getElementById('curated-form');
  const errorNode = document.getElementById('curated-error');
  const sync = () => {
    empty.hidden = list.children.length > 0;
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const question = form.elements.question.value.trim();
    const answer = form.elements.answer.value.trim();
    if (!question || !answer) {
      showError(errorNode, 'Both the question and the answer are required.');
      (question ? form.elements.answer : form.elements.question).focus();
      return;
    }
    submitting(form, errorNode, async () => {
      const item = await apiFetch(root.dataset.curatedUrl, { method: 'POST', body: { question, answer } });
      list.append(curatedItem(item));
      sync();
      form.reset();
      announce('Curated answer added.');
    });
  });
  list.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action=delete]');
    if (!button) return;
    const item = button.closest('li.curated');
    const question = item.querySelector('.curated-question').firstChild.textContent.trim();
    if (!window.confirm(`Delete the curated answer to “${question}”?`)) return;
    button.disabled = true;
    showError(errorNode, '');
    try {
      await apiFetch(`${root.dataset.curatedItemUrl}${item.dataset.curatedId}`, { method: 'DELETE' });
      item.remove();
      sync();
      announce('Curated answer deleted.');
    } catch (error) {
      button.disabled = false;
      showError(errorNode, error.detail);
    }
  });
}

// The documents table follows a running import by reloading, at most this often (a bulk import
// can hold thousands of documents; the list endpoint returns them all).
const TABLE_RELOAD_MS = 5000;

function initImports(root, table, announce) {
  const errorNode = document.getElementById('imports-error');
  let lastReload = 0;
  const jobs = new ImportJobs({
    list: document.getElementById('import-jobs'),
    empty: document.getElementById('imports-empty'),
    listUrl: root.dataset.importsUrl,
    jobUrl: root.dataset.importUrl,
    announce,
    onChange: (settled) => {
      if (settled || Date.now() - lastReload >= TABLE_RELOAD_MS) {
        lastReload = Date.now();
        table.reload().catch(() => {});
      }
    },
  });
  jobs.load().catch(() => {});
  const started = (job) => {
    jobs.show(job);
    jobs.follow(job.id);
    table.reload().catch(() => {});
    announce(`${job.kind === 'reindex' ? 'Re-index' : 'Import'} #${job.id} queued.`);
  };
  const input = document.getElementById('import-input');
  const choose = document.getElementById('import-choose');
  choose.addEventListener('click', () => input.click());
  input.addEventListener('change', async () => {
    const [file] = input.files;
    input.value = '';
    if (!file) return;
    showError(errorNode, '');
    choose.disabled = true;
    try {
      started(await sendImport(root.dataset.importsUrl, file));
    } catch (error) {
      showError(errorNode, `${file.name}: ${error.detail}`);
    } finally {
      choose.disabled = false;
    }
  });
  const reindex = document.getElementById('reindex-submit');
  reindex.addEventListener('click', async () => {
    if (!window.confirm('Index every document of this knowledge base again?')) return;
    showError(errorNode, '');
    reindex.disabled = true;
    try {
      started(await apiFetch(root.dataset.reindexUrl, { method: 'POST' }));
    } catch (error) {
      showError(errorNode, error.detail);
    } finally {
      reindex.disabled = false;
    }
  });
}

function initKnowledgeBase(root) {
  const announcer = document.getElementById('kb-announcer');
  const announce = (text) => {
    announcer.textContent = text;
  };
  const poller = new StatusPoller(root.dataset.documentUrl);
  const table = new DocumentTable({
    body: document.getElementById('documents-body'),
    empty: document.getElementById('documents-empty'),
    counts: document.getElementById('document-counts'),
    listUrl: root.dataset.documentsUrl,
    poller,
    announce,
  });
  table.watchPending();
  initDocuments(root, table, announce);
  initUploads(root, table);
  initImports(root, table, announce);
  initSearch(root);
  initCurated(root, announce);
}

localizeTimes(document);
const createForm = document.getElementById('kb-create-form');
if (createForm) initCreateForm(createForm);
const knowledgeBase = document.getElementById('knowledge-base');
if (knowledgeBase) initKnowledgeBase(knowledgeBase);
