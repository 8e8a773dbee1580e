import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';
import { parseSse, sseJson } from '../helpers/sse.js';
import { openLiveClient } from '../helpers/ws-client.js';

// Reasoning models: reasoning_effort becomes Ollama's think, and the thinking comes back apart
// from the answer (reasoning_content) — from Ollama's `thinking` field or from <think> blocks
// in the text — and never reaches content or memory.
const stack = await startStack();
t.teardown(() => stack.close());
const post = (body: Record<string, unknown>) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'what is 2+2?' }], ...body }),
  });
const storedAnswer = async (requestId: string) =>
  (
    await stack.db
      .selectFrom('turns')
      .select('assistant_response')
      .where('request_id', '=', requestId)
      .executeTakeFirstOrThrow()
  ).assistant_response;

t.test('reasoning_effort → think; the thinking is reasoning_content, apart from the answer', async (t) => {
  stack.ollama.behave({ thinking: ['Two and', ' two.'], tokens: ['4'] });
  const res = await post({ reasoning_effort: 'high' });
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.equal(stack.ollama.requests.at(-1)!.body['think'], true, 'on/off for a model without levels');
  t.match(body.choices[0].message, { role: 'assistant', content: '4', reasoning_content: 'Two and two.' });
  t.equal(await storedAnswer(body.id), '4', 'memory keeps the answer, not the thinking');

  await (await post({ reasoning_effort: 'none' })).arrayBuffer();
  t.equal(stack.ollama.requests.at(-1)!.body['think'], false);
  await (await post({})).arrayBuffer();
  t.notOk('think' in stack.ollama.requests.at(-1)!.body, 'not asked: the model decides');
});

t.test('a streamed answer sends the thinking as reasoning_content deltas before the text', async (t) => {
  stack.ollama.behave({ thinking: ['hmm'], tokens: ['4'] });
  const res = await post({ stream: true, reasoning_effort: 'low' });
  const chunks = sseJson(parseSse(await res.text()).events);
  t.match(chunks[0].choices[0].delta, { role: 'assistant', content: null, reasoning_content: 'hmm' });
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  t.equal(text, '4');
});

t.test('<think> blocks in the text (no separate field) are split out, across chunk borders', async (t) => {
  stack.ollama.behave({ tokens: ['<thi', 'nk>step one', '</th', 'ink>\n\nThe answer', ' is 4.'] });
  const body: any = await (await post({})).json();
  t.match(body.choices[0].message, { content: 'The answer is 4.', reasoning_content: 'step one' });
  t.equal(await storedAnswer(body.id), 'The answer is 4.');

  const client = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
  t.teardown(() => client.socket.terminate());
  await client.next((f) => f.type === 'ready');
  stack.ollama.behave({ tokens: ['<think>ws thought</think>', 'ws answer'] });
  client.send({ type: 'chat', id: 'r1', agent: 'testing', messages: [{ role: 'user', content: 'x' }] });
  const { text } = await client.finish('r1');
  t.equal(text, 'ws answer');
  t.ok(
    client.frames.some((f) => f.type === 'delta' && (f as { reasoning?: string }).reasoning === 'ws thought'),
    'the WebSocket delta carries it as reasoning',
  );
  t.same(client.invalidFrames, []);
});

t.test('a model that cannot think is a 400 naming reasoning_effort; an unknown effort too', async (t) => {
  stack.ollama.behave({ failWith: { status: 400, message: '"llama3.2" does not support thinking' } });
  const res = await post({ reasoning_effort: 'medium' });
  t.equal(res.status, 400);
  t.match(await res.json(), { error: { code: 'invalid_request', param: 'reasoning_effort', message: /cannot think/ } });
  const bad = await post({ reasoning_effort: 'extreme' });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: { param: 'reasoning_effort' } });
});
