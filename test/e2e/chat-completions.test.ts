import { connect } from 'node:net';
import OpenAI from 'openai';
import t from 'tap';
import { RECEIPT_GRACE_MS } from '../../bus-schemas/index.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { parseSse, sseJson } from '../helpers/sse.js';

const stack = await startStack();
t.teardown(() => stack.close());
const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, ...headers },
    body: JSON.stringify(body),
  });

t.test('non-streaming: one chat.completion with usage, conversation id and meta', async (t) => {
  stack.ollama.behave({ tokens: ['Hi', ' there', '!'], promptEvalCount: 21 });
  const res = await post({ model: 'code_generation', messages: [{ role: 'user', content: 'Say hi' }] });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /application\/json/);
  const body: any = await res.json();
  t.match(body, {
    id: /^chatcmpl-/,
    object: 'chat.completion',
    created: Number,
    model: 'code_generation',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hi there!' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 21, completion_tokens: 3, total_tokens: 24 },
    conversation_id: /^conv_/,
    meta: {
      memory_used: false,
      cached: false,
      processing_time: /^\d+\.\d\ds$/,
      agent: 'code_generation',
      model: 'llama3.2',
    },
  });
  t.equal(res.headers.get('x-session-id'), body.conversation_id, 'X-Session-ID header carries the conversation id');
  t.equal(res.headers.get('x-request-id'), body.id);
  const sent = stack.ollama.requests.at(-1)!;
  t.equal(sent.model, 'llama3.2', 'the agent model is sent to Ollama');
  t.equal(sent.messages[0]!.role, 'system', 'agent system prompt first');
  t.match(sent.messages[0]!.content, /senior software engineer/);
  t.same(sent.messages.slice(1), [{ role: 'user', content: 'Say hi' }]);
});

t.test('streaming: exact OpenAI chunk sequence, one id, role first, finish_reason, [DONE]', async (t) => {
  stack.ollama.behave({ tokens: ['one', ' two', ' three'] });
  const res = await post({ model: 'documentation', stream: true, messages: [{ role: 'user', content: 'count' }] });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  t.match(res.headers.get('x-session-id'), /^conv_/);
  const { events } = parseSse(await res.text());
  t.equal(events.at(-1)!.data, '[DONE]', 'ends with [DONE]');
  const chunks = sseJson(events);
  t.equal(new Set(chunks.map((c) => c.id)).size, 1, 'one id for all chunks');
  t.ok(
    chunks.every(
      (c) => c.object === 'chat.completion.chunk' && c.model === 'documentation' && typeof c.created === 'number',
    ),
  );
  t.same(chunks[0].choices[0].delta, { role: 'assistant', content: '', refusal: null }, 'first chunk carries the role');
  const contentChunks = chunks.slice(1, -1);
  t.same(
    contentChunks.map((c) => c.choices[0].delta.content),
    ['one', ' two', ' three'],
    'content deltas in order',
  );
  t.ok(contentChunks.every((c) => c.choices[0].finish_reason === null));
  const last = chunks.at(-1);
  t.same(last.choices[0].delta, {});
  t.equal(last.choices[0].finish_reason, 'stop');
  t.match(last.meta, { memory_used: false, cached: false, processing_time: /s$/ });
  t.equal(last.conversation_id, res.headers.get('x-session-id'));
  t.notOk('usage' in chunks[1], 'no usage field unless asked for');
});

t.test('streaming with stream_options.include_usage adds the usage chunk', async (t) => {
  stack.ollama.behave({ tokens: ['a', 'b'], promptEvalCount: 5 });
  const res = await post({
    model: 'testing',
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'x' }],
  });
  const chunks = sseJson(parseSse(await res.text()).events);
  const usage = chunks.at(-1);
  t.same(usage.choices, []);
  t.same(usage.usage, { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
  t.ok(
    chunks.slice(0, -1).every((c) => c.usage === null),
    'other chunks carry usage: null',
  );
});

t.test('slow model: keep-alive comments before the first token', async (t) => {
  stack.ollama.behave({ tokens: ['late'], firstTokenDelayMs: 700 });
  const res = await post({ model: 'deployment', stream: true, messages: [{ role: 'user', content: 'x' }] });
  const { events, comments } = parseSse(await res.text());
  t.ok(comments.filter((c) => c === 'keep-alive').length >= 2, `keep-alives sent (${comments.length})`);
  t.equal(events.at(-1)!.data, '[DONE]');
});

t.test('sampling parameters reach Ollama through the parameter table', async (t) => {
  stack.ollama.behave({});
  const res = await post({
    model: 'testing',
    messages: [
      { role: 'developer', content: 'terse' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ],
      },
    ],
    temperature: 0.3,
    top_p: 0.9,
    max_tokens: 50,
    stop: 'END',
    seed: 7,
    presence_penalty: 0.5,
    frequency_penalty: -0.5,
  });
  t.equal(res.status, 200);
  const sent = stack.ollama.requests.at(-1)!;
  t.same(sent.options, {
    temperature: 0.3,
    top_p: 0.9,
    num_predict: 50,
    stop: ['END'],
    seed: 7,
    presence_penalty: 0.5,
    frequency_penalty: -0.5,
  });
  // The developer message is a system one, joined to the agent's system prompt (workers/prompt.ts).
  t.match(sent.messages[0], { role: 'system', content: /\n\nterse$/ }, 'developer → system');
  t.same(sent.messages.slice(1), [{ role: 'user', content: 'a\nb' }], 'text parts one per line');
  const res2 = await post({
    model: 'testing',
    messages: [{ role: 'user', content: 'a' }],
    max_tokens: 10,
    max_completion_tokens: 20,
  });
  t.equal(res2.status, 200);
  t.equal(stack.ollama.requests.at(-1)!.options?.['num_predict'], 20, 'max_completion_tokens wins over max_tokens');
});

t.test('a non-streamed answer larger than a NATS message (1 MB here) arrives whole', async (t) => {
  const big = 'abcdefghij'.repeat(150_000);
  stack.ollama.behave({ tokens: [big.slice(0, 700_000), big.slice(700_000)] });
  const body: any = await (await post({ model: 'testing', messages: [{ role: 'user', content: 'long' }] })).json();
  t.equal(body.choices[0].message.content.length, big.length);
  t.equal(body.choices[0].message.content, big);
});

t.test('finish_reason length is reported', async (t) => {
  stack.ollama.behave({ doneReason: 'length' });
  const body: any = await (
    await post({ model: 'testing', messages: [{ role: 'user', content: 'x' }], max_tokens: 6 })
  ).json();
  t.equal(body.choices[0].finish_reason, 'length');
});

t.test('the official openai SDK, non-streaming and streaming', async (t) => {
  stack.ollama.behave({ tokens: ['SDK', ' works'] });
  const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });
  const completion = await client.chat.completions.create({
    model: 'code_review',
    messages: [{ role: 'user', content: 'review this' }],
  });
  t.equal(completion.choices[0]!.message.content, 'SDK works');
  t.equal(completion.choices[0]!.finish_reason, 'stop');
  t.equal(completion.usage?.completion_tokens, 2);

  const stream = await client.chat.completions.create({
    model: 'code_review',
    messages: [{ role: 'user', content: 'again' }],
    stream: true,
  });
  let text = '';
  let finish: string | null = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  t.equal(text, 'SDK works');
  t.equal(finish, 'stop');

  // The SDK's stream helper is a strict checker: it throws on a missing role or finish_reason.
  const final = await client.chat.completions
    .stream({ model: 'code_review', messages: [{ role: 'user', content: 'once more' }] })
    .finalChatCompletion();
  t.equal(final.choices[0]!.message.content, 'SDK works');
  t.equal(final.choices[0]!.message.role, 'assistant');

  const models = await client.models.list();
  t.same(
    models.data.map((m) => m.id),
    [
      ...stack.catalog.names,
      'tts-1',
      'tts-1-hd',
      'gpt-4o-mini-tts',
      'whisper-1',
      'gpt-4o-transcribe',
      'gpt-4o-mini-transcribe',
      'auto',
    ],
    'the agents, the speech aliases, then "auto" (the router)',
  );
});

t.test('a reader too slow to take the answer while its worker waits is cut, and nothing is stored', async (t) => {
  // The test stack's worker runs in the gateway's process: its synchronous write of a 16 MB turn can stall
  // both, for over the shared stack's 1 s silence limit on a loaded machine. Here the limit is 3 s.
  const slow = await startStack({ env: { HEARTBEAT_MS: '1000' } });
  t.teardown(() => slow.close());
  // 16 MB, far beyond loopback's socket buffers: most of it waits in the gateway for the reader.
  slow.ollama.behave({ tokens: Array.from({ length: 1024 }, () => 'x'.repeat(16 * 1024)) });
  const body = JSON.stringify({ model: 'documentation', messages: [{ role: 'user', content: 'Say a lot' }] });
  // Building 16 MB takes the stack ~2 s when idle, several on a loaded CI machine: the deadline leaves room.
  const timeoutMs = 8000;
  const socket = connect(Number(new URL(slow.baseUrl).port), '127.0.0.1');
  socket.pause();
  socket.write(
    'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer local-only\r\n' +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Timeout-Ms: ${timeoutMs}\r\n\r\n${body}`,
  );
  // The worker waits for the receipt until the deadline plus RECEIPT_GRACE_MS; the reader wakes later.
  await new Promise((resolve) => setTimeout(resolve, timeoutMs + RECEIPT_GRACE_MS + 500));
  const received = await new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // Any other status is a failure to report now, not after the keep-alive timeout closes the socket.
      if (chunks.length === 1 && !chunk.toString('latin1', 0, 13).startsWith('HTTP/1.1 200')) socket.destroy();
    });
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', () => undefined);
    socket.resume();
  });
  const headEnd = received.indexOf('\r\n\r\n');
  const head = received.subarray(0, headEnd).toString('latin1');
  if (!t.match(head, /^HTTP\/1\.1 200 /, received.toString('latin1', 0, 2000))) return;
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1]);
  t.ok(received.length - headEnd - 4 < length, 'the body is cut short: it never reads as a whole answer');
  const session = /\r\nx-session-id: (\S+)/i.exec(head)![1]!;
  let status = 0;
  for (let i = 0; i < 50 && status !== 404; i++) {
    const memory = await fetch(`${slow.baseUrl}/memory/last?session=${session}`, { headers: AUTH });
    status = memory.status;
    if (status !== 404) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.equal(status, 404, 'the conversation its turn would have made is gone');
});
