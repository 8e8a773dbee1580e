import OpenAI, { type APIError } from 'openai';
import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';

// The legacy completions route with the official client: gateway → NATS → worker → fake Ollama.
const stack = await startStack();
t.teardown(() => stack.close());
const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });

t.test('completions.create(): a text_completion from the chat pipeline', async (t) => {
  stack.ollama.behave({ tokens: ['Once', ' upon'] });
  const completion = await client.completions.create({ model: 'testing', prompt: 'Tell', max_tokens: 7, stop: ['X'] });
  t.equal(completion.object, 'text_completion');
  t.match(completion.id, /^cmpl-/, "OpenAI's text completion ids start cmpl-");
  t.equal(completion.choices[0]!.text, 'Once upon');
  t.equal(completion.choices[0]!.finish_reason, 'stop');
  t.same(completion.usage, { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 });
  const sent = stack.ollama.requests.at(-1)!;
  t.match(sent.options, { num_predict: 7, stop: ['X'] }, 'max_tokens and stop reach the backend');
  t.match(sent.messages.at(-1), { role: 'user', content: 'Tell' }, 'the prompt is the user message');
  t.equal(sent.messages[0]!.role, 'system', "after the agent's system prompt");
});

t.test('completions.create({stream: true}): text_completion chunks, the usage chunk, [DONE]', async (t) => {
  stack.ollama.behave({ tokens: ['a', 'b', 'c'], doneReason: 'length' });
  const stream = await client.completions.create({
    model: 'testing',
    prompt: ['abc'],
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  t.ok(chunks.every((c) => c.object === 'text_completion'));
  const ids = new Set(chunks.map((c) => c.id));
  t.ok(ids.size === 1 && [...ids][0]!.startsWith('cmpl-'), 'every chunk carries one cmpl- id');
  t.equal(chunks.map((c) => c.choices[0]?.text ?? '').join(''), 'abc');
  t.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'length');
  t.same(chunks.at(-1)!.choices, []);
  t.same(chunks.at(-1)!.usage, { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 });

  const raw = await fetch(`${stack.baseUrl}/v1/completions`, {
    method: 'POST',
    headers: { ...AUTH, 'cache-control': 'no-cache' },
    body: JSON.stringify({ model: 'testing', prompt: 'abc', stream: true }),
  });
  t.match(raw.headers.get('content-type'), /^text\/event-stream/);
  t.ok((await raw.text()).endsWith('data: [DONE]\n\n'), 'the stream ends with [DONE]');
});

t.test('suffix, echo and several prompts are refused by name', async (t) => {
  const refused = async (body: Record<string, unknown>) => {
    const err = (await client.completions
      .create({ model: 'testing', prompt: 'x', ...body } as never)
      .catch((e: unknown) => e)) as APIError;
    return { status: err.status, param: err.param };
  };
  t.same(await refused({ suffix: 'end' }), { status: 400, param: 'suffix' });
  t.same(await refused({ echo: true }), { status: 400, param: 'echo' });
  t.same(await refused({ prompt: ['a', 'b'] }), { status: 400, param: 'prompt' });
  t.same(await refused({ prompt: [1, 2] }), { status: 400, param: 'prompt' });
});

t.test('the per-agent base URL serves completions too', async (t) => {
  stack.ollama.behave({ tokens: ['ok'] });
  const res = await fetch(`${stack.baseUrl}/agents/testing/v1/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ prompt: 'per agent' }),
  });
  t.equal(res.status, 200);
  t.match(await res.json(), { object: 'text_completion', choices: [{ text: 'ok' }], meta: { agent: 'testing' } });
});

t.test('a cmpl- id continues its conversation, as a chat completion id does', async (t) => {
  stack.ollama.behave({ tokens: ['Paris'] });
  const first = (await client.completions.create({ model: 'testing', prompt: 'Capital of France?' })) as unknown as {
    id: string;
    conversation_id: string;
  };
  stack.ollama.behave({ tokens: ['2M'] });
  const followUp = await fetch(`${stack.baseUrl}/v1/completions`, {
    method: 'POST',
    headers: { ...AUTH, 'x-session-id': first.id },
    body: JSON.stringify({ model: 'testing', prompt: 'Population?' }),
  });
  t.equal(followUp.status, 200);
  t.equal(followUp.headers.get('x-session-id'), first.conversation_id, 'the cmpl- id names its conversation');
  const second = (await followUp.json()) as { id: string; conversation_id: string };
  t.equal(second.conversation_id, first.conversation_id);
  t.match(stack.ollama.requests.at(-1)!.messages.slice(1), [
    { role: 'user', content: 'Capital of France?' },
    { role: 'assistant', content: 'Paris' },
    { role: 'user', content: 'Population?' },
  ]);

  stack.ollama.behave({ tokens: ['Yes'] });
  const streamed = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, 'x-session-id': second.id },
    body: JSON.stringify({ model: 'testing', stream: true, messages: [{ role: 'user', content: 'Sure?' }] }),
  });
  t.equal(streamed.headers.get('x-session-id'), first.conversation_id, 'the chat route takes a cmpl- id too');
  await streamed.text();
  t.equal(stack.ollama.requests.at(-1)!.messages.length, 6, 'system, two turns, the new question');
});
