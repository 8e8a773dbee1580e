import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { memoryDatabasePath } from '../../workers/memory/database.js';
import { startFakeOllama } from '../helpers/fake-ollama.js';
import { startTestNats } from '../helpers/nats.js';
import { startGatewayProcess, startWorkerProcess, type TestProcess } from '../helpers/processes.js';
import { AUTH } from '../helpers/stack.js';
import { sleep, waitFor } from '../helpers/wait.js';

// A client that leaves while the gateway's event loop is busy (a loaded machine): its hang-up
// waits unread in the kernel when the worker's `done` arrives. Unless the gateway reads it before
// writing the answer's end, that write succeeds into a socket nobody reads and the turn is
// committed for a client that never got it — a phantom turn, seen once in reconcile-workers under
// CI's load. Here the gateway is a process of its own, stopped (SIGSTOP) to hold its loop on purpose.
const nats = await startTestNats();
t.teardown(() => nats.dispose());
const ollama = await startFakeOllama();
t.teardown(() => ollama.close());
const dataDir = mkdtempSync(join(tmpdir(), 'agentbus-late-hang-up-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
const env = {
  NATS_URL: nats.url,
  OLLAMA_URL: ollama.url,
  DATA_DIR: dataDir,
  LOG_DIR: join(dataDir, 'logs'),
  DEFAULT_MODEL: 'llama3.2',
  CACHE_TTL_SECONDS: '0',
  BACKEND_PROBE_INTERVAL_MS: '0',
};
const worker = await startWorkerProcess(env, ['code_review']);
t.teardown(() => worker.stop());
const gateway: TestProcess = await startGatewayProcess({ ...env, KEYS_FILE: 'none' });
t.teardown(async () => {
  gateway.child.kill('SIGCONT');
  await gateway.stop();
});
const baseUrl = String(gateway.ready['url']);
const db = new Database(memoryDatabasePath(dataDir), { readonly: true });
t.teardown(() => db.close());
const turnOf = (question: string) =>
  db.prepare('select request_id, state from turns where user_input = ?').get(question) as
    { request_id: string; state: string } | undefined;
const request = (question: string, stream: boolean) => ({
  method: 'POST',
  headers: AUTH,
  body: JSON.stringify({ model: 'code_review', stream, messages: [{ role: 'user', content: question }] }),
});

/**
 * The gateway is stopped while the model ends its answer; the worker writes the turn pending and
 * at once sends `done`, which waits unread at the stopped gateway's NATS connection (a moment is
 * plenty on loopback). Only then the client leaves (`leave`): its hang-up reaches the gateway after
 * `done` and waits unread too. Resolves with the turn's state once the gateway, woken, settled it.
 */
async function leaveWhileGatewayStopped(question: string, leave: () => void): Promise<string | undefined> {
  gateway.child.kill('SIGSTOP');
  await waitFor('the worker to write the turn pending', () => turnOf(question)?.state === 'pending');
  await sleep(200);
  leave();
  await sleep(200);
  gateway.child.kill('SIGCONT');
  await waitFor('the pending turn to be settled', () => turnOf(question)?.state !== 'pending');
  return turnOf(question)?.state;
}

t.beforeEach(() => ollama.behave({ tokens: ['Every', ' token', ' sent'], tokenDelayMs: 0, endDelayMs: 300 }));

t.test('SSE: a hang-up the gateway reads only after `done` arrived commits nothing', async (t) => {
  // Read whole, the same answer is committed: the control.
  const whole = await fetch(`${baseUrl}/v1/chat/completions`, request('Read it all', true));
  t.match(await whole.text(), /data: \[DONE\]/);
  await waitFor('the answer read whole to be committed', () => turnOf('Read it all')?.state === 'committed');

  const controller = new AbortController();
  const res = await fetch(`${baseUrl}/v1/chat/completions`, { ...request('Leaving', true), signal: controller.signal });
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes(' sent')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended before its last token: ${text}`);
    text += new TextDecoder().decode(value);
  }
  t.notMatch(text, /\[DONE\]/, 'the client has every token, not the end');
  const state = await leaveWhileGatewayStopped('Leaving', () => controller.abort());
  t.equal(state, undefined, 'the turn was discarded: its client never had [DONE]');
});

t.test('JSON: a client gone before its body was written has nothing committed', async (t) => {
  const controller = new AbortController();
  const answered = fetch(`${baseUrl}/v1/chat/completions`, {
    ...request('Leaving JSON', false),
    signal: controller.signal,
  }).catch((err: Error) => err);
  await waitFor('the model to be asked', () =>
    ollama.requests.some((r) => r.messages.at(-1)?.content === 'Leaving JSON'),
  );
  const state = await leaveWhileGatewayStopped('Leaving JSON', () => controller.abort());
  t.type(await answered, Error, 'the client left without an answer');
  t.equal(state, undefined, 'the turn was discarded');
});

t.test('WebSocket: a connection dropped before the done frame was sent has nothing committed', async (t) => {
  const socket = new WebSocket(`${baseUrl.replace('http', 'ws')}/v1/ws`, {
    headers: { authorization: AUTH.authorization },
  });
  t.teardown(() => socket.terminate());
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const frames: Array<{ type: string }> = [];
  socket.on('message', (data) => frames.push(JSON.parse((data as Buffer).toString('utf8')) as { type: string }));
  socket.send(
    JSON.stringify({
      type: 'chat',
      id: 'r1',
      agent: 'code_review',
      messages: [{ role: 'user', content: 'Leaving WS' }],
    }),
  );
  await waitFor('the model to be asked', () =>
    ollama.requests.some((r) => r.messages.at(-1)?.content === 'Leaving WS'),
  );
  const state = await leaveWhileGatewayStopped('Leaving WS', () => socket.terminate());
  t.notOk(
    frames.some((frame) => frame.type === 'done'),
    'no done frame reached the client',
  );
  t.equal(state, undefined, 'the turn was discarded');

  const res = await fetch(`${baseUrl}/v1/chat/completions`, request('Still there?', false));
  t.equal(res.status, 200, 'the gateway serves on');
});
