// The agent's presence in the console: heartbeats while a console page is open, the
// online / away / offline toggle, and a notification + beep for a conversation that waits.
// Runs on every console page that has #presence (chatapp/assignment holds the rules).

import { apiFetch } from '../shared/api.js';

const STATE_LABELS = {
  online: 'Online',
  away: 'Away',
  offline: 'Offline',
};
// A conversation that starts waiting is usually auto-assigned within a second; only one still
// waiting after this long (or one assigned to me) is announced, so nobody is called for a
// conversation a colleague already got.
const NOTIFY_GRACE_MS = 2000;
const RELOAD_AFTER_CHANGE_MS = 1500;

const root = document.getElementById('presence');
const state = { me: root ? Number(root.dataset.userId) : 0, statusOf: new Map(), audio: null };

function show(presence) {
  const select = document.getElementById('presence-select');
  const label = document.getElementById('presence-state');
  if (document.activeElement !== select) select.value = presence.status;
  label.dataset.state = presence.effective_status;
  const load = `${presence.load} of ${presence.capacity} conversations`;
  label.textContent = `${STATE_LABELS[presence.effective_status] || presence.effective_status} · ${load}`;
}

function showError(error) {
  const label = document.getElementById('presence-state');
  label.dataset.state = 'error';
  label.textContent = error.detail || 'Status unavailable';
}

async function beat() {
  try {
    const presence = await apiFetch(root.dataset.heartbeatUrl, { method: 'POST', body: {} });
    show(presence);
    return presence;
  } catch (error) {
    showError(error);
    return null;
  }
}

/** A short two-tone beep (WebAudio; no audio file). Needs a context a click has unlocked. */
function beep() {
  const ctx = state.audio;
  if (!ctx || ctx.state !== 'running') return;
  const gain = ctx.createGain();
  gain.gain.setValueAtTime(0.0001, ctx.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.35);
  gain.connect(ctx.destination);
  [880, 660].forEach((freq, i) => {
    const osc = ctx.createOscillator();
    osc.frequency.value = freq;
    osc.connect(gain);
    osc.start(ctx.currentTime + i * 0.15);
    osc.stop(ctx.currentTime + 0.15 + i * 0.15);
  });
}

function notify(text, conversationId) {
  const notice = document.getElementById('presence-notice');
  notice.textContent = text;
  root.dataset.lastNotice = text;
  root.dataset.notices = String(Number(root.dataset.notices || 0) + 1);
  beep();
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  const note = new Notification('Support console', { body: text, tag: `conversation-${conversationId}` });
  note.onclick = () => {
    window.focus();
    note.close();
  };
}

/**
 * Called by the queue for every live row update. Announces a conversation that is still waiting
 * after NOTIFY_GRACE_MS, and one assigned to me by the server.
 */
export function queueNotify(summary) {
  if (!root) return;
  const before = state.statusOf.get(summary.id);
  const assignedTo = summary.assignee ? summary.assignee.id : null;
  state.statusOf.set(summary.id, { status: summary.status, assignee: assignedTo });
  const preview = summary.last_message || 'no message';
  if (summary.status === 'assigned' && assignedTo === state.me && (!before || before.assignee !== state.me)) {
    notify(`A conversation was assigned to you: ${preview}`, summary.id);
    return;
  }
  if (summary.status !== 'waiting' || (before && before.status === 'waiting')) return;
  window.setTimeout(() => {
    const now = state.statusOf.get(summary.id);
    if (now && now.status === 'waiting') notify(`A conversation is waiting for an agent: ${preview}`, summary.id);
  }, NOTIFY_GRACE_MS);
}

function setupNotifications() {
  const button = document.getElementById('notify-enable');
  const supported = 'Notification' in window;
  button.hidden = false;
  const refresh = () => {
    const granted = supported && Notification.permission === 'granted';
    const sound = state.audio && state.audio.state === 'running';
    button.textContent = granted && sound ? 'Notifications on' : 'Enable notifications';
    button.disabled = Boolean(granted && sound);
    button.setAttribute('aria-pressed', granted && sound ? 'true' : 'false');
  };
  button.addEventListener('click', async () => {
    // Browsers start audio only from a user gesture: this click unlocks the beep.
    const AudioCtx = window.AudioContext || window.webkitAudioContext;
    if (AudioCtx && !state.audio) state.audio = new AudioCtx();
    if (state.audio) await state.audio.resume();
    if (supported && Notification.permission === 'default') await Notification.requestPermission();
    refresh();
  });
  refresh();
}

async function start() {
  // Rows the page was rendered with: an update to one of them is not news by itself.
  for (const row of document.querySelectorAll('tr.queue-row')) {
    const assignee = row.dataset.assigneeId ? Number(row.dataset.assigneeId) : null;
    state.statusOf.set(row.dataset.conversationId, { status: row.dataset.status, assignee });
  }
  const select = document.getElementById('presence-select');
  select.addEventListener('change', async () => {
    try {
      show(await apiFetch(root.dataset.presenceUrl, { method: 'PUT', body: { status: select.value } }));
      // The assignment pass runs right after (in a worker): read the new load once it has.
      window.setTimeout(beat, RELOAD_AFTER_CHANGE_MS);
    } catch (error) {
      showError(error);
    }
  });
  setupNotifications();
  const first = await beat();
  const everyMs = ((first && first.heartbeat_s) || 20) * 1000;
  window.setInterval(beat, everyMs);
  // A tab that slept (laptop lid) says it is back at once instead of at the next tick.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') beat();
  });
}

if (root) start();
