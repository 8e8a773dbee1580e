// agentbus playground: a browser client of the gateway's WebSocket protocol (/v1/ws).
// Plain ES module, no dependencies. Untrusted text (model output, error messages) only ever
// reaches the DOM through textContent / createElement, never innerHTML.

import { wireMicrophone } from './microphone.js';
import { addSpeakButton } from './speak.js';

const KEY_STORAGE = 'agentbus.playground.apiKey';
const AUTO_AGENT = 'auto';
const AUTO_DESCRIPTION =
  "The gateway's router picks the agent(s) for each message: its rules (code, tests, deployment, Bengali, speech…), then a classifier, then the default agent.";
const WS_URL = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
const PREFERRED_AGENT = 'code_review';

const $ = (id) => document.getElementById(id);
const ui = {
  status: document.querySelector('[data-testid="status"]'),
  statusText: document.querySelector('.status-text'),
  reconnect: $('reconnect'),
  settingsToggle: $('settings-toggle'),
  settings: $('settings'),
  apiKey: $('api-key'),
  apiKeyReveal: $('api-key-reveal'),
  apiKeyHint: $('api-key-hint'),
  settingsCancel: $('settings-cancel'),
  agent: $('agent'),
  agentDescription: $('agent-description'),
  conversationId: $('conversation-id'),
  copyConversation: $('copy-conversation'),
  newConversation: $('new-conversation'),
  temperature: $('opt-temperature'),
  maxTokens: $('opt-max-tokens'),
  refresh: $('opt-refresh'),
  transcript: $('transcript'),
  empty: $('empty'),
  suggestions: $('suggestions'),
  jump: $('jump'),
  composer: $('composer'),
  input: $('message'),
  send: $('send'),
  stop: $('stop'),
};

// Friendlier next steps for the errors a new user is most likely to meet.
const ERROR_TIPS = {
  no_worker: 'No worker serves this agent right now. Is a worker process running (npm start starts one)?',
  backend_unreachable: 'The worker cannot reach its model backend (e.g. Ollama). Is it running?',
  backend_model_not_found: 'The model backend does not have this model. Pull it first (e.g. ollama pull <model>).',
  backend_auth_failed: "The model backend refused the worker's key. Set OPENAI_API_KEY on the worker.",
  bus_unavailable: 'The gateway cannot reach NATS. Is the NATS server running?',
  too_many_concurrent_requests: 'Too many requests in flight on this connection; wait for one to finish.',
  deadline_exceeded: 'The agent took too long. Try a shorter prompt or a lower max tokens.',
  session_not_found: 'The server no longer knows this conversation. Start a new one.',
};

const state = {
  apiKey: '',
  devKey: null,
  ws: null,
  connection: 'connecting',
  attempt: 0,
  retryTimer: 0,
  countdownTimer: 0,
  agents: [],
  conversationId: '',
  epoch: 0, // bumped by "New conversation": replies of an older epoch must not revive its id
  requests: new Map(), // request id → request in flight (see startRequest)
  stopped: new Map(), // request id → epoch, for requests stopped here whose done may still come
  active: null, // the request the composer is waiting on
  seq: 0,
  stickToBottom: true,
};

// ---------------------------------------------------------------- connection

function setStatus(connection, text) {
  state.connection = connection;
  ui.status.dataset.state = connection;
  ui.statusText.textContent = text;
  ui.status.title = text;
  // A manual reconnect makes sense whenever we are not connected and not already trying.
  ui.reconnect.hidden = connection === 'connected' || connection === 'connecting';
  updateComposer();
}

function connect() {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdownTimer);
  dropSocket();
  if (!state.apiKey) {
    setStatus('disconnected', 'No API key — set it in Settings');
    openSettings();
    return;
  }
  setStatus('connecting', state.attempt ? `Reconnecting… (attempt ${state.attempt + 1})` : 'Connecting…');
  const ws = new WebSocket(WS_URL);
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', api_key: state.apiKey }));
  ws.onmessage = (event) => {
    if (ws !== state.ws) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame && typeof frame === 'object') handleFrame(frame);
  };
  // Events of a socket we already replaced (key change, manual reconnect) are ignored.
  ws.onclose = (event) => {
    if (ws === state.ws) onClosed(event);
  };
}

/** Closes the current socket without triggering the reconnect logic. */
function dropSocket() {
  const ws = state.ws;
  state.ws = null;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'client reconnecting');
  failInFlight('The connection was closed before the reply finished.');
}

function onClosed(event) {
  state.ws = null;
  // 1009: the gateway refused the frame just sent as over BODY_LIMIT_BYTES; the network is fine.
  if (event.code === 1009) failInFlight('The message is too large for the gateway: shorten it.', 'request_too_large');
  else failInFlight('Connection lost — the reply was interrupted.');
  if (event.code === 4401) {
    // A bad key will not get better by retrying: wait for the user to change it.
    setStatus('rejected', 'API key rejected — set it in Settings');
    openSettings();
    return;
  }
  if (event.code === 4408) {
    setStatus('rejected', 'Authentication timed out — check Settings');
    return;
  }
  const delay = BACKOFF_MS[Math.min(state.attempt, BACKOFF_MS.length - 1)];
  state.attempt += 1;
  const until = Date.now() + delay;
  const tick = () => {
    const seconds = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    setStatus('disconnected', `Connection lost · retrying in ${seconds}s`);
  };
  tick();
  state.countdownTimer = setInterval(tick, 250);
  state.retryTimer = setTimeout(connect, delay);
}

function sendFrame(frame) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
  state.ws.send(JSON.stringify(frame));
  return true;
}

function handleFrame(frame) {
  switch (frame.type) {
    case 'ready':
      return onReady(frame);
    case 'delta':
      return onDelta(frame);
    case 'done':
      return onDone(frame);
    case 'error':
      return onError(frame);
    default:
      return undefined; // pong and future frame types
  }
}

function onReady(frame) {
  state.attempt = 0;
  state.agents = Array.isArray(frame.agents) ? frame.agents : [];
  fillAgents();
  setStatus('connected', 'Connected');
}

// ---------------------------------------------------------------- agents & conversation

function fillAgents() {
  const previous = ui.agent.value;
  ui.agent.replaceChildren();
  for (const agent of state.agents) {
    const option = document.createElement('option');
    option.value = agent.name;
    option.textContent = agent.name;
    option.title = agent.description ?? '';
    ui.agent.append(option);
  }
  if (state.agents.length === 0) {
    const option = document.createElement('option');
    option.value = '';
    option.textContent = 'No agents configured';
    ui.agent.append(option);
  } else {
    // Not an agent: the gateway's router picks one (or several) per message.
    const option = document.createElement('option');
    option.value = AUTO_AGENT;
    option.textContent = 'auto (router chooses)';
    option.title = AUTO_DESCRIPTION;
    ui.agent.append(option);
  }
  // Keep the user's choice across reconnects; otherwise prefer code_review, else the first.
  const names = [...state.agents.map((a) => a.name), AUTO_AGENT];
  ui.agent.value = names.includes(previous)
    ? previous
    : names.includes(PREFERRED_AGENT)
      ? PREFERRED_AGENT
      : (names[0] ?? '');
  ui.agent.disabled = state.agents.length === 0;
  showAgentDescription();
}

function showAgentDescription() {
  const agent = state.agents.find((a) => a.name === ui.agent.value);
  ui.agentDescription.textContent = ui.agent.value === AUTO_AGENT ? AUTO_DESCRIPTION : (agent?.description ?? '');
}

function setConversationId(id) {
  state.conversationId = id;
  ui.conversationId.textContent = id;
  ui.conversationId.title = id;
  ui.copyConversation.hidden = !id;
}

function newConversation() {
  if (state.active) stopActive();
  state.epoch += 1;
  setConversationId('');
  for (const node of [...ui.transcript.children]) if (node !== ui.empty) node.remove();
  ui.empty.hidden = false;
  ui.input.focus();
}

// ---------------------------------------------------------------- requests

function send() {
  const text = ui.input.value.trim();
  if (!text || state.active || state.connection !== 'connected' || !ui.agent.value) return;
  ui.input.value = '';
  ui.empty.hidden = true;
  appendUserMessage(text);
  const view = appendAssistantMessage(ui.agent.value);
  state.stickToBottom = true;
  startRequest(text, ui.agent.value, view);
}

/** Sends one chat frame; `view` is the assistant message element set that will show the reply. */
function startRequest(text, agent, view) {
  const id = `pg-${Date.now().toString(36)}-${++state.seq}`;
  const frame = { type: 'chat', id, agent, messages: [{ role: 'user', content: text }] };
  // Memory is server-side: only the new message travels, plus the conversation to continue.
  if (state.conversationId) frame.session_id = state.conversationId;
  const temperature = ui.temperature.valueAsNumber;
  if (Number.isFinite(temperature)) frame.temperature = temperature;
  const maxTokens = ui.maxTokens.valueAsNumber;
  if (Number.isInteger(maxTokens) && maxTokens > 0) frame.max_tokens = maxTokens;
  if (ui.refresh.checked) frame.cache = 'refresh';

  const request = {
    id,
    text,
    agent,
    view,
    content: '',
    reasoning: '',
    toolCalls: [],
    epoch: state.epoch,
    renderQueued: false,
  };
  // Only the latest failure offers a retry: an older one would answer out of order.
  for (const button of ui.transcript.querySelectorAll('.retry')) button.remove();
  view.root.dataset.state = 'streaming';
  view.root.dataset.requestId = id;
  state.requests.set(id, request);
  state.active = request;
  updateComposer();
  if (!sendFrame(frame)) finishWithError(request, { message: 'Not connected to the gateway.', code: 'not_connected' });
  scheduleRender(request);
}

function onDelta(frame) {
  const request = state.requests.get(frame.id);
  if (!request) return; // stopped or from an older conversation: drop it
  if (typeof frame.content === 'string') request.content += frame.content;
  if (typeof frame.reasoning === 'string') request.reasoning += frame.reasoning;
  // The model's refusal to answer: what it said instead of an answer, shown as one.
  if (typeof frame.refusal === 'string') request.content += frame.refusal;
  if (Array.isArray(frame.tool_calls)) {
    // Fragments as OpenAI streams them: the first of a call names it, later ones add arguments.
    for (const part of frame.tool_calls) {
      const call = (request.toolCalls[part.index ?? 0] ??= { name: '', arguments: '' });
      if (part.function?.name) call.name = part.function.name;
      if (part.function?.arguments) call.arguments += part.function.arguments;
    }
  }
  scheduleRender(request);
}

function onDone(frame) {
  const request = state.requests.get(frame.id);
  // Even a reply the user stopped was stored if it got this far: its conversation lives on.
  const epoch = request ? request.epoch : (state.stopped.get(frame.id) ?? -1);
  state.stopped.delete(frame.id);
  if (epoch === state.epoch && frame.conversation_id) setConversationId(frame.conversation_id);
  if (!request) return;
  endRequest(request, 'done');
  renderMeta(request.view, frame);
  if (request.content) addSpeakButton(request.view.root, request.content, () => state.apiKey);
}

function onError(frame) {
  const error = frame.error ?? {};
  const request = frame.id ? state.requests.get(frame.id) : undefined;
  if (request) return finishWithError(request, error);
  state.stopped.delete(frame.id);
  if (frame.id) return; // the terminal frame of a request already stopped here
  // Stop pressed as the answer ended: the cancel found nothing to stop, which is no news to the user.
  if (error.code === 'cancel_not_active') return;
  // Not tied to a request. Before `ready` it explains the close that follows (4401/4408).
  if (state.connection === 'connected') appendSystemNote(`Gateway: ${error.message ?? 'error'}`, true);
}

function finishWithError(request, error) {
  endRequest(request, error.code === 'request_cancelled' ? 'stopped' : 'error');
  if (error.code === 'request_cancelled') return appendStopped(request.view);
  const box = el('div', 'notice notice-error');
  box.append(el('strong', '', 'Error'), el('span', '', error.message || 'The request failed.'));
  if (error.code) box.append(el('span', 'code', error.code));
  const tip = ERROR_TIPS[error.code];
  if (tip) box.append(el('span', 'tip', tip));
  const retry = el('button', 'btn btn-ghost btn-small retry', 'Retry');
  retry.type = 'button';
  retry.addEventListener('click', () => {
    if (state.active || state.connection !== 'connected') return;
    box.remove();
    request.view.meta.replaceChildren();
    startRequest(request.text, request.agent, request.view);
  });
  box.append(retry);
  request.view.bubble.append(box);
  scrollIfStuck();
}

/** Stop: the UI settles at once; the cancel frame tells the gateway to stop the worker. */
function stopActive() {
  const request = state.active;
  if (!request) return;
  sendFrame({ type: 'cancel', id: request.id });
  state.stopped.set(request.id, request.epoch);
  endRequest(request, 'stopped');
  appendStopped(request.view);
  ui.input.focus();
}

function endRequest(request, finalState) {
  state.requests.delete(request.id);
  if (state.active === request) state.active = null;
  request.view.root.dataset.state = finalState;
  renderContent(request, false);
  if (finalState === 'done' && !request.content && request.toolCalls.length === 0) {
    request.view.content.append(el('p', 'para placeholder', '(empty reply)'));
  }
  updateComposer();
}

function failInFlight(message, code = 'connection_lost') {
  for (const request of [...state.requests.values()]) finishWithError(request, { message, code });
}

// ---------------------------------------------------------------- rendering

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function appendUserMessage(text) {
  const root = el('div', 'msg msg-user');
  root.dataset.testid = 'user-message';
  root.append(el('div', 'bubble', text));
  ui.transcript.append(root);
}

function appendAssistantMessage(agent) {
  const root = el('div', 'msg msg-assistant');
  root.dataset.testid = 'assistant-message';
  root.dataset.state = 'streaming';
  const bubble = el('div', 'bubble');
  // A reasoning model's thinking: collapsed above the answer, shown only when there is some.
  const thinking = el('details', 'thinking');
  thinking.dataset.testid = 'thinking';
  thinking.hidden = true;
  const thinkingText = el('div', 'thinking-text');
  thinking.append(el('summary', '', 'Thinking'), thinkingText);
  const content = el('div', 'content');
  const tools = el('div', 'tool-calls');
  bubble.append(thinking, content, tools);
  const meta = el('div', 'meta');
  meta.dataset.testid = 'meta';
  root.append(el('div', 'who', agent), bubble, meta);
  ui.transcript.append(root);
  return { root, bubble, thinking, thinkingText, content, tools, meta };
}

function appendStopped(view) {
  view.bubble.append(el('div', 'notice notice-stopped', 'Stopped'));
  scrollIfStuck();
}

function appendSystemNote(text, isError) {
  const note = el('div', `system-note${isError ? ' error' : ''}`);
  note.append(el('span', '', text));
  ui.empty.hidden = true;
  ui.transcript.append(note);
  scrollIfStuck();
}

// Deltas can arrive far faster than the screen refreshes: render at most once per frame.
function scheduleRender(request) {
  if (request.renderQueued) return;
  request.renderQueued = true;
  requestAnimationFrame(() => {
    request.renderQueued = false;
    if (request.view.root.dataset.state === 'streaming') renderContent(request, true);
  });
}

function renderContent(request, streaming) {
  const { content, tools, thinking, thinkingText } = request.view;
  thinking.hidden = request.reasoning === '';
  thinkingText.textContent = request.reasoning;
  content.replaceChildren(...renderText(request.content));
  tools.replaceChildren(
    ...request.toolCalls.filter(Boolean).map((call) => {
      const block = el('div', 'tool-call');
      block.append(el('span', 'tool-name', `ƒ ${call.name || 'tool'}`), `(${call.arguments})`);
      return block;
    }),
  );
  if (streaming) {
    const last = content.lastElementChild;
    const host = last?.tagName === 'PRE' ? last.querySelector('code') : last;
    (host ?? content).append(el('span', 'cursor'));
  }
  scrollIfStuck();
}

/**
 * Turns model text into DOM nodes: ``` fences become <pre><code> blocks, the rest paragraphs
 * with `inline code` and **bold**. Fences are split on wherever they appear, not only at line
 * starts (small models often write "… like so: ```js"); an unclosed fence, normal mid-stream,
 * runs to the end.
 */
function renderText(text) {
  const nodes = [];
  text.split('```').forEach((segment, index) => {
    if (index % 2 === 0) {
      // Prose: blank lines separate paragraphs.
      for (const chunk of segment.trim().split(/\n\s*\n/)) if (chunk.trim()) nodes.push(renderInline(chunk.trim()));
      return;
    }
    // Code: a first line that is a single word ("js", "c++") is the language.
    const lang = /^([\w+#.-]*)[ \t]*\n/.exec(segment);
    const body = (lang ? segment.slice(lang[0].length) : segment).replace(/\n[ \t]*$/, '');
    nodes.push(codeBlock(body, lang?.[1] ?? ''));
  });
  return nodes;
}

function codeBlock(code, lang) {
  const pre = el('pre');
  if (lang) pre.dataset.lang = lang;
  const copy = el('button', 'copy-code', 'Copy');
  copy.type = 'button';
  copy.addEventListener('click', () => copyText(code, copy));
  pre.append(copy, el('code', '', code));
  return pre;
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
    setTimeout(() => {
      button.textContent = 'Copy';
    }, 1200);
  } catch {
    /* no clipboard on an insecure origin: the text is selectable anyway */
  }
}

function renderInline(chunk) {
  const p = el('p', 'para');
  // split() with a capture group keeps the matches at odd indexes.
  chunk.split(/(`[^`\n]+`|\*\*[^*\n]+\*\*)/).forEach((part, index) => {
    if (index % 2 === 0) {
      if (part) p.append(part);
      return;
    }
    p.append(part.startsWith('`') ? el('code', '', part.slice(1, -1)) : el('strong', '', part.slice(2, -2)));
  });
  return p;
}

function renderMeta(view, frame) {
  const meta = frame.meta ?? {};
  const usage = frame.usage ?? {};
  const items = [
    meta.agent,
    meta.model,
    meta.processing_time,
    usage.prompt_tokens !== undefined
      ? `${usage.prompt_tokens} prompt / ${usage.completion_tokens} completion tokens`
      : null,
    `memory ${meta.memory_used ? 'yes' : 'no'}`,
  ];
  items.push(el('span', meta.cached ? 'badge' : '', `cached ${meta.cached ? 'yes' : 'no'}`));
  const routing = meta.routing;
  if (routing && routing.by !== 'model' && routing.by !== 'path')
    items.push(`routed by ${routing.rule ? `rule ${routing.rule}` : routing.by}`);
  if (Array.isArray(meta.fallback) && meta.fallback.length > 0)
    items.push(`fallback ${meta.fallback.map((step) => `${step.from}→${step.to}`).join(', ')}`);
  if (frame.finish_reason === 'length') items.push('cut off at max tokens');
  view.meta.replaceChildren();
  items.filter(Boolean).forEach((item, index) => {
    if (index) view.meta.append(el('span', 'sep', ' · '));
    view.meta.append(typeof item === 'string' ? el('span', '', item) : item);
  });
  view.meta.title = [
    `worker: ${meta.worker ?? '?'}`,
    `completion: ${frame.completion_id ?? '?'}`,
    ...(routing ? [`routing: ${routing.reason}`] : []),
  ].join('\n');
  scrollIfStuck();
}

// ---------------------------------------------------------------- scrolling

function isNearBottom() {
  const t = ui.transcript;
  return t.scrollHeight - t.scrollTop - t.clientHeight < 48;
}

function scrollIfStuck() {
  if (state.stickToBottom) ui.transcript.scrollTop = ui.transcript.scrollHeight;
  ui.jump.hidden = state.stickToBottom || isNearBottom();
}

// ---------------------------------------------------------------- composer & settings

function updateComposer() {
  const generating = Boolean(state.active);
  const ready = state.connection === 'connected' && Boolean(ui.agent.value);
  ui.stop.hidden = !generating;
  ui.send.hidden = generating;
  ui.send.disabled = generating || !ready || !ui.input.value.trim();
  ui.input.placeholder = ready ? `Message ${ui.agent.value}…` : 'Waiting for the gateway…';
}

function openSettings() {
  ui.settings.hidden = false;
  ui.settingsToggle.setAttribute('aria-expanded', 'true');
  ui.apiKey.value = state.apiKey;
  ui.apiKeyHint.textContent =
    !localStorage.getItem(KEY_STORAGE) && state.devKey && state.apiKey === state.devKey
      ? 'Using the gateway\u2019s built-in development key. Saving a key stores it in this browser (localStorage).'
      : 'Stored in this browser only (localStorage). Save an empty key to forget it.';
  ui.apiKey.focus();
}

function closeSettings() {
  ui.settings.hidden = true;
  ui.settingsToggle.setAttribute('aria-expanded', 'false');
}

function saveKey() {
  const key = ui.apiKey.value.trim();
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
  state.apiKey = key || state.devKey || '';
  closeSettings();
  state.attempt = 0;
  connect();
}

function wireEvents() {
  ui.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  ui.input.addEventListener('keydown', (event) => {
    // isComposing: Enter that confirms an IME candidate must not send.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
    if (event.key === 'Escape' && state.active) {
      event.preventDefault();
      stopActive();
    }
  });
  ui.input.addEventListener('input', updateComposer);
  ui.stop.addEventListener('click', stopActive);
  ui.newConversation.addEventListener('click', newConversation);
  ui.agent.addEventListener('change', () => {
    showAgentDescription();
    updateComposer();
  });
  ui.copyConversation.addEventListener('click', () => copyText(state.conversationId, ui.copyConversation));
  ui.suggestions.addEventListener('click', (event) => {
    const chip = event.target.closest('.chip');
    if (!chip) return;
    ui.input.value = chip.textContent;
    updateComposer();
    ui.input.focus();
  });
  ui.transcript.addEventListener(
    'scroll',
    () => {
      state.stickToBottom = isNearBottom();
      ui.jump.hidden = state.stickToBottom;
    },
    { passive: true },
  );
  ui.jump.addEventListener('click', () => {
    state.stickToBottom = true;
    scrollIfStuck();
  });

  ui.settingsToggle.addEventListener('click', () => (ui.settings.hidden ? openSettings() : closeSettings()));
  ui.settingsCancel.addEventListener('click', closeSettings);
  ui.settings.addEventListener('submit', (event) => {
    event.preventDefault();
    saveKey();
  });
  ui.apiKeyReveal.addEventListener('click', () => {
    const show = ui.apiKey.type === 'password';
    ui.apiKey.type = show ? 'text' : 'password';
    ui.apiKeyReveal.textContent = show ? 'Hide' : 'Show';
    ui.apiKeyReveal.setAttribute('aria-pressed', String(show));
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !ui.settings.hidden) closeSettings();
    // After a click on Send (hidden while generating) focus is on the page, not in the box.
    else if (event.key === 'Escape' && state.active && !event.defaultPrevented) stopActive();
  });
  document.addEventListener('pointerdown', (event) => {
    if (!ui.settings.hidden && !ui.settings.contains(event.target) && !ui.settingsToggle.contains(event.target))
      closeSettings();
  });
  ui.reconnect.addEventListener('click', () => {
    state.attempt = 0;
    connect();
  });
}

async function loadDevKey() {
  try {
    const response = await fetch('/playground/config.json', { cache: 'no-store' });
    if (response.ok) return (await response.json()).dev_key ?? null;
  } catch {
    /* an older gateway without the route: no prefill */
  }
  return null;
}

async function main() {
  $('endpoint').textContent = WS_URL;
  wireEvents();
  updateComposer();
  const saved = localStorage.getItem(KEY_STORAGE);
  state.devKey = await loadDevKey();
  state.apiKey = saved || state.devKey || '';
  connect();
  wireMicrophone({
    button: $('mic'),
    input: ui.input,
    apiKey: () => state.apiKey,
    onError: (message) => appendSystemNote(message, true),
  });
  if (ui.settings.hidden) ui.input.focus();
}

main();
