import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createKey, runKeysCli } from '../helpers/keys-cli.js';
import { parseSse } from '../helpers/sse.js';
import { startStack } from '../helpers/stack.js';
import { waitUntil } from '../helpers/wait.js';

// Finding 6 of issue 18: an SSE stream ran 17 s to [DONE] after its key was revoked. Now an
// open HTTP stream (SSE and the legacy NDJSON one) of a revoked key ends within about a second
// of the revocation, with invalid_api_key and never the end-of-answer marker; the model call is
// aborted and nothing is stored. The Responses and text-completions streams once ran to the end
// (their routes built the relay options without the revocation signal): every route is covered.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-revoked-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const keysFile = join(dir, 'keys.json');
const keeper = await createKey(keysFile, ['--name', 'keeper', '--tier', 'unlimited']);
const stack = await startStack({ env: { KEYS_FILE: keysFile } });
t.teardown(() => stack.close());

// 40 tokens, 250 ms apart: 10 s of answer, far longer than the revocation may take to bite.
const slow = { tokens: Array.from({ length: 40 }, (_, i) => ` t${i}`), firstTokenDelayMs: 0, tokenDelayMs: 250 };

/**
 * Opens a stream, reads until its second token, revokes `name`, and reads the rest, timed; then
 * says whether the model call was aborted and how many turns its conversation stored.
 */
async function revokeMidStream(path: string, name: string, body: object) {
  const key = await createKey(keysFile, ['--name', name, '--tier', 'unlimited']);
  await waitUntil(async () => (await fetch(`${stack.baseUrl}/v1/models`, auth(key))).status === 200);
  stack.ollama.behave(slow);
  const sent = stack.ollama.requests.length;
  const res = await fetch(`${stack.baseUrl}${path}`, {
    method: 'POST',
    headers: { ...auth(key).headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  // The token as JSON, not just its letters: a random id in the opening events may hold "t1".
  while (!text.includes('" t1"')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const revoked = await runKeysCli(keysFile, ['revoke', name]);
  const revokedAt = Date.now();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const endedAfterMs = Date.now() - revokedAt;
  const upstream = stack.ollama.requests[sent];
  const upstreamAborted = await waitUntil(() => upstream?.aborted === true, 5000);
  const session = res.headers.get('x-session-id') ?? '';
  const stored = await stack.db.selectFrom('turns').select('id').where('session_id', '=', session).execute();
  return { status: res.status, text, revokeCode: revoked.code, endedAfterMs, upstreamAborted, stored: stored.length };
}

/** What every cut stream shows besides its format: cut soon, the model call aborted, no turn kept. */
function cutAndForgotten(t: Test, run: Awaited<ReturnType<typeof revokeMidStream>>) {
  t.equal(run.status, 200);
  t.equal(run.revokeCode, 0);
  t.ok(run.endedAfterMs < 2500, `ended ${run.endedAfterMs} ms after the revocation`);
  t.notOk(run.text.includes('t39'), 'the rest of the answer was not sent');
  t.ok(run.upstreamAborted, 'the model call was aborted');
  t.equal(run.stored, 0, 'nothing was stored');
}
const auth = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

t.test('an SSE stream of a revoked key ends within about a second with event: error', async (t) => {
  const run = await revokeMidStream('/v1/chat/completions', 'streamer', {
    model: 'code_review',
    stream: true,
    messages: [{ role: 'user', content: 'talk for a while' }],
  });
  cutAndForgotten(t, run);
  const events = parseSse(run.text).events;
  const last = events.at(-1)!;
  t.equal(last.event, 'error');
  t.match(JSON.parse(last.data), { error: { code: 'invalid_api_key', type: 'invalid_request_error' } });
  t.notOk(
    events.some((e) => e.data === '[DONE]'),
    'never [DONE]',
  );
  const keeperModels = await fetch(`${stack.baseUrl}/v1/models`, auth(keeper));
  t.equal(keeperModels.status, 200, 'other keys carry on');
});

t.test('the legacy NDJSON stream (/api/generate) of a revoked key ends the same way', async (t) => {
  const run = await revokeMidStream('/api/generate', 'legacy', { model: 'code_review', prompt: 'talk for a while' });
  cutAndForgotten(t, run);
  const lines = run.text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  t.match(lines.at(-1), { code: 'invalid_api_key' });
  t.notOk(
    lines.some((line) => line['done'] === true),
    'never done: true',
  );
});

t.test('the Responses stream of a revoked key ends with an error event, never response.completed', async (t) => {
  const run = await revokeMidStream('/v1/responses', 'responder', {
    model: 'code_review',
    stream: true,
    input: 'talk for a while',
  });
  cutAndForgotten(t, run);
  const events = parseSse(run.text).events;
  const error = events.find((e) => e.event === 'error');
  t.match(error && JSON.parse(error.data), { type: 'error', code: 'invalid_api_key' });
  t.equal(events.at(-1)!.event, 'response.failed');
  t.notOk(
    events.some((e) => e.event === 'response.completed'),
    'never response.completed',
  );
});

t.test('the text-completions stream of a revoked key ends with event: error, never [DONE]', async (t) => {
  const run = await revokeMidStream('/v1/completions', 'completer', {
    model: 'code_review',
    stream: true,
    prompt: 'talk for a while',
  });
  cutAndForgotten(t, run);
  const events = parseSse(run.text).events;
  const last = events.at(-1)!;
  t.equal(last.event, 'error');
  t.match(JSON.parse(last.data), { error: { code: 'invalid_api_key', type: 'invalid_request_error' } });
  t.notOk(
    events.some((e) => e.data === '[DONE]'),
    'never [DONE]',
  );
});

t.test('a key revoked between its authentication and its stream (a body sent slowly) gets no stream', async (t) => {
  const key = await createKey(keysFile, ['--name', 'slow-sender', '--tier', 'unlimited']);
  await waitUntil(async () => (await fetch(`${stack.baseUrl}/v1/models`, auth(key))).status === 200);
  stack.ollama.behave(slow);
  const body = JSON.stringify({ model: 'code_review', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const { port } = new URL(stack.baseUrl);
  const socket = connect(Number(port), '127.0.0.1');
  t.teardown(() => socket.destroy());
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
  const ended = new Promise((resolve) => socket.once('close', resolve));
  // The gateway says 100 Continue once the headers are authenticated and admitted; the body comes
  // after the revocation has bitten.
  socket.write(
    `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost:${port}\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n` +
      'Expect: 100-continue\r\n\r\n',
  );
  t.ok(await waitUntil(() => answer.startsWith('HTTP/1.1 100 Continue'), 5000), 'authenticated');
  answer = '';
  t.equal((await runKeysCli(keysFile, ['revoke', 'slow-sender'])).code, 0);
  t.ok(
    await waitUntil(async () => (await fetch(`${stack.baseUrl}/v1/models`, auth(key))).status === 401),
    'the gateway reloaded the keys',
  );
  const sent = stack.ollama.requests.length;
  socket.write(body);
  await ended;
  t.match(answer, /^HTTP\/1\.1 401 /, 'refused, not streamed');
  t.match(answer, /"code":"invalid_api_key"/);
  t.notOk(answer.includes('[DONE]'));
  const asked = stack.ollama.requests[sent];
  t.ok(!asked || (await waitUntil(() => asked.aborted === true, 5000)), 'no model call left running');
  const session = /x-session-id: (\S+)/i.exec(answer)?.[1] ?? '';
  const stored = await stack.db.selectFrom('turns').select('id').where('session_id', '=', session).execute();
  t.equal(stored.length, 0, 'nothing was stored');
});

t.test('a spoken SSE answer of a revoked key stops in its audio: event: error, never [DONE]', async (t) => {
  const key = await createKey(keysFile, ['--name', 'listener', '--tier', 'unlimited']);
  await waitUntil(async () => (await fetch(`${stack.baseUrl}/v1/models`, auth(key))).status === 200);
  const sentence = 'This answer is long enough to keep the speech engine busy for a good while. ';
  stack.ollama.behave({ tokens: Array.from({ length: 40 }, () => sentence) });
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...auth(key).headers, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'code_review',
      stream: true,
      modalities: ['text', 'audio'],
      audio: { voice: 'alloy', format: 'wav' },
      messages: [{ role: 'user', content: 'Talk a lot' }],
    }),
  });
  const reader = res.body!.getReader();
  let text = '';
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    text += Buffer.from(read.value).toString('utf8');
    if (text.includes('"data":')) break;
  }
  // Not reading on until the gateway knows: the rest of the audio waits in its writes.
  t.equal((await runKeysCli(keysFile, ['revoke', 'listener'])).code, 0);
  t.ok(await waitUntil(async () => (await fetch(`${stack.baseUrl}/v1/models`, auth(key))).status === 401));
  for (let read = await reader.read(); !read.done; read = await reader.read())
    text += Buffer.from(read.value).toString('utf8');
  const events = parseSse(text).events;
  t.equal(events.at(-1)!.event, 'error');
  t.match(JSON.parse(events.at(-1)!.data), { error: { code: 'invalid_api_key' } });
  t.notOk(
    events.some((e) => e.data === '[DONE]'),
    'never [DONE]',
  );
  const session = res.headers.get('x-session-id') ?? '';
  const stored = await stack.db.selectFrom('turns').select('id').where('session_id', '=', session).execute();
  t.equal(stored.length, 0, 'nothing was stored');
});
