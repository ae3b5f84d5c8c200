// "Try it": the passages a question retrieves, as the search API ranks them. Known fields get
// labels and a fixed order; fields the API adds later are shown too, after them, by name.

import { el } from '../shared/messages.js';

// Shown in the head of each result or not at all.
const STRUCTURAL = new Set(['document_id', 'chunk_id', 'title', 'text', 'found_by', 'source_url', 'anchor']);
const KNOWN = [
  ['score', 'Score'],
  ['similarity', 'Similarity'],
  ['relevance', 'Relevance'],
  ['keyword_score', 'Keyword score'],
  ['vector_rank', 'Vector rank'],
  ['keyword_rank', 'Keyword rank'],
  ['heading_path', 'Section'],
  ['page', 'Page'],
];
const KNOWN_KEYS = new Set(KNOWN.map(([key]) => key));
const RETRIEVERS = { vector: 'Vector', keyword: 'Keyword' };
// Longer passages start folded so ten results stay scannable.
const FOLD_CHARS = 320;

function humanise(key) {
  const words = key.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Numbers to four significant decimals, ranks as integers, text as is; null for nothing to show. */
export function formatValue(value) {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(4);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (Array.isArray(value)) return value.length ? value.map(String).join(', ') : null;
  if (typeof value === 'object') return null;
  return String(value);
}

function badges(foundBy) {
  const wrap = el('span', 'found-by');
  const list = Array.isArray(foundBy) ? foundBy : [];
  if (list.length) wrap.append(el('span', 'visually-hidden', 'Found by: '));
  for (const name of list) {
    wrap.append(el('span', `retriever retriever-${String(name).replace(/[^a-z0-9_-]/gi, '')}`, RETRIEVERS[name] || String(name)));
  }
  return wrap;
}

function scores(result) {
  const list = el('dl', 'result-scores');
  const add = (label, value) => {
    const text = formatValue(value);
    if (text === null) return;
    const pair = el('div', 'score');
    pair.append(el('dt', null, label), el('dd', null, text));
    list.append(pair);
  };
  for (const [key, label] of KNOWN) add(label, result[key]);
  for (const [key, value] of Object.entries(result)) {
    if (!KNOWN_KEYS.has(key) && !STRUCTURAL.has(key)) add(humanise(key), value);
  }
  return list;
}

function passage(text, index) {
  const wrap = el('div', 'result-passage');
  const body = el('p', 'result-text', text);
  body.id = `result-text-${index}`;
  wrap.append(body);
  if (text.length > FOLD_CHARS) {
    body.classList.add('folded');
    const toggle = el('button', 'link-button result-toggle', 'Show all');
    toggle.type = 'button';
    toggle.setAttribute('aria-expanded', 'false');
    toggle.setAttribute('aria-controls', body.id);
    toggle.addEventListener('click', () => {
      const open = body.classList.toggle('folded') === false;
      toggle.setAttribute('aria-expanded', String(open));
      toggle.textContent = open ? 'Show less' : 'Show all';
    });
    wrap.append(toggle);
  }
  return wrap;
}

/** One ranked passage as an <li>. */
export function renderResult(result, index) {
  const item = el('li', 'result');
  item.dataset.documentId = result.document_id;
  item.dataset.chunkId = result.chunk_id;
  const head = el('div', 'result-head');
  head.append(el('span', 'result-rank', `#${index + 1}`), el('span', 'result-title', result.title || 'Untitled'), badges(result.found_by));
  item.append(head, scores(result), passage(String(result.text || ''), index));
  return item;
}

/** Replace the list's content with the results. */
export function renderResults(list, results) {
  list.replaceChildren(...results.map((result, index) => renderResult(result, index)));
}
