import OpenAI from 'openai';
import t from 'tap';
import { createOpenAIProvider } from '../../workers/providers/openai/index.js';
import { parseSse, sseJson } from '../helpers/sse.js';
import { startFakeOpenAI } from '../helpers/fake-openai.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { waitUntil } from '../helpers/wait.js';
import { openLiveClient } from '../helpers/ws-client.js';

// The `openai` provider against a real HTTP peer on loopback speaking OpenAI's wire protocol.
const upstream = await startFakeOpenAI(['gpt-test']);
t.teardown(() => upstream.close());
const stack = await startStack({
  // as_sent (OPENAI_MAX_TOKENS_PARAM): the cap's name as the client wrote it; the default, auto, sends a server
  // other than api.openai.com max_tokens (unit openai-request).
  provider: createOpenAIProvider({ baseUrl: upstream.url, apiKey: 'sk-upstream-secret', maxTokensParam: 'as_sent' }),
  env: { DEFAULT_MODEL: 'gpt-test' },
});
t.teardown(() => stack.close());
const post = (body: Record<string, unknown>) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], ...body }),
  });

t.test('streams the upstream answer; sampling options and the upstream key are sent on', async (t) => {
  upstream.behave({ tokens: ['One', ' two', ' three'] });
  const res = await post({
    stream: true,
    stream_options: { include_usage: true },
    temperature: 0.4,
    top_p: 0.9,
    max_tokens: 50,
    seed: 3,
    stop: ['END'],
  });
  const chunks = sseJson(parseSse(await res.text()).events);
  t.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'One two three');
  t.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
  t.same(chunks.at(-1).usage, { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 });
  const sent = upstream.requests.at(-1)!;
  t.match(sent.body, {
    model: 'gpt-test',
    stream: true,
    temperature: 0.4,
    top_p: 0.9,
    max_tokens: 50,
    seed: 3,
    stop: ['END'],
  });
  t.equal(sent.body.messages[0].role, 'system', "the agent's system prompt goes first");
  t.equal(sent.authorization, 'Bearer sk-upstream-secret');
});

t.test('OPENAI_MAX_TOKENS_PARAM=as_sent: the cap reaches the upstream under the name the client used', async (t) => {
  upstream.behave({ tokens: ['ok'] });
  const sentWith = async (path: string, body: Record<string, unknown>) => {
    const res = await fetch(`${stack.baseUrl}${path}`, { method: 'POST', headers: AUTH, body: JSON.stringify(body) });
    t.equal(res.status, 200, `${path} ${JSON.stringify(body)}`);
    await res.text();
    const { max_tokens, max_completion_tokens } = upstream.requests.at(-1)!.body;
    return { max_tokens, max_completion_tokens };
  };
  const chat = (cap: Record<string, unknown>) =>
    sentWith('/v1/chat/completions', { model: 'testing', messages: [{ role: 'user', content: 'hi' }], ...cap });
  t.same(await chat({ max_tokens: 40 }), { max_tokens: 40, max_completion_tokens: undefined });
  t.same(await chat({ max_completion_tokens: 41 }), { max_tokens: undefined, max_completion_tokens: 41 });
  t.same(await chat({ max_tokens: 40, max_completion_tokens: 42 }), {
    max_tokens: undefined,
    max_completion_tokens: 42,
  });
  t.same(await sentWith('/v1/responses', { model: 'testing', input: 'hi', max_output_tokens: 43 }), {
    max_tokens: undefined,
    max_completion_tokens: 43,
  });
});

t.test('verbosity and service_tier reach the upstream, from Chat Completions and from Responses', async (t) => {
  upstream.behave({ tokens: ['ok'] });
  const sent = () => {
    const { verbosity, service_tier } = upstream.requests.at(-1)!.body;
    return { verbosity, service_tier };
  };
  const chat = await post({ verbosity: 'low', service_tier: 'flex' });
  t.equal(chat.status, 200);
  await chat.text();
  t.same(sent(), { verbosity: 'low', service_tier: 'flex' });
  const respond = (body: Record<string, unknown>) =>
    fetch(`${stack.baseUrl}/v1/responses`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'testing', input: 'hi', ...body }),
    });
  const response: any = await (await respond({ text: { verbosity: 'high' }, service_tier: 'priority' })).json();
  t.same(sent(), { verbosity: 'high', service_tier: 'priority' }, "Responses' text.verbosity is chat's verbosity");
  t.same(response.text, { format: { type: 'text' }, verbosity: 'high' }, 'echoed as OpenAI echoes it');
  await (await post({})).text();
  t.same(sent(), { verbosity: undefined, service_tier: undefined }, 'neither when the client sent none');
  const bad = await post({ verbosity: 'loud' });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: { param: 'verbosity' } });
  const misplaced = await respond({ verbosity: 'low' });
  t.equal(misplaced.status, 400);
  t.match(await misplaced.json(), { error: { param: 'verbosity', message: /text\.verbosity/ } });
});

t.test('a message of texts and images reaches the upstream in order, with media types and detail', async (t) => {
  upstream.behave({ tokens: ['the first'] });
  const content = [
    { type: 'text', text: 'Image A:' },
    { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQSkZJRg==', detail: 'low' } },
    { type: 'text', text: 'Image B:' },
    { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
    { type: 'text', text: 'Which is red?' },
  ];
  const res = await post({ messages: [{ role: 'user', content }] });
  t.equal(res.status, 200);
  await res.text();
  t.same(upstream.requests.at(-1)!.body.messages.at(-1), { role: 'user', content });
});

t.test("/api/generate's bare images reach the upstream labelled with their own media type", async (t) => {
  upstream.behave({ tokens: ['a cat'] });
  const b64 = (bytes: string) => Buffer.from(bytes, 'latin1').toString('base64');
  const jpeg = b64('\xff\xd8\xff\xe0\x00\x10JFIF\x00');
  const webp = b64('RIFF\x24\x00\x00\x00WEBPVP8 ');
  const res = await fetch(`${stack.baseUrl}/api/generate`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', prompt: 'what is it?', images: [jpeg, webp], stream: false }),
  });
  t.equal(res.status, 200);
  await res.text();
  t.same(upstream.requests.at(-1)!.body.messages.at(-1).content, [
    { type: 'text', text: 'what is it?' },
    { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${jpeg}` } },
    { type: 'image_url', image_url: { url: `data:image/webp;base64,${webp}` } },
  ]);
});

t.test("each message's name reaches the upstream", async (t) => {
  upstream.behave({ tokens: ['ok'] });
  // A system message mid-conversation stays one (leading ones join the agent's system prompt).
  const messages = [
    { role: 'user', content: 'hi', name: 'alice' },
    { role: 'assistant', content: 'hello alice', name: 'bot' },
    { role: 'system', content: 'bob joins', name: 'moderator' },
    { role: 'user', content: 'and me?', name: 'bob' },
  ];
  const res = await post({ messages });
  t.equal(res.status, 200);
  await res.text();
  t.same(upstream.requests.at(-1)!.body.messages.slice(-4), messages);
});

t.test('tool calls: upstream fragments are reassembled, then streamed to the client as OpenAI fragments', async (t) => {
  upstream.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: '{"city":"Dhaka"}' }] });
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
  const res = await post({ tools, tool_choice: 'auto' });
  const json: any = await res.json();
  t.equal(json.choices[0].finish_reason, 'tool_calls');
  t.match(json.choices[0].message.tool_calls, [
    { id: 'call_up0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Dhaka"}' } },
  ]);
  t.match(upstream.requests.at(-1)!.body, { tools, tool_choice: 'auto' });
});

t.test('parallel_tool_calls: false reaches the upstream; a second call it makes anyway is dropped', async (t) => {
  const calls = [
    { name: 'get_weather', arguments: '{"city":"Dhaka"}' },
    { name: 'get_weather', arguments: '{"city":"Lima"}' },
  ];
  upstream.behave({ tokens: [], toolCalls: calls });
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
  const json: any = await (await post({ tools, parallel_tool_calls: false })).json();
  t.equal(upstream.requests.at(-1)!.body.parallel_tool_calls, false);
  t.match(json.choices[0].message.tool_calls, [{ function: { arguments: '{"city":"Dhaka"}' } }]);
  t.equal(json.choices[0].message.tool_calls.length, 1, 'a server that ignores it does not break the promise');
  const response: any = await (
    await fetch(`${stack.baseUrl}/v1/responses`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({
        model: 'testing',
        input: 'weather?',
        tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' } }],
        parallel_tool_calls: false,
      }),
    })
  ).json();
  t.equal(upstream.requests.at(-1)!.body.parallel_tool_calls, false, 'from the Responses API too');
  t.equal(response.output.filter((item: any) => item.type === 'function_call').length, 1);
  await (await post({ tools })).text();
  t.notOk('parallel_tool_calls' in upstream.requests.at(-1)!.body, 'not sent when the client sent none');
  upstream.behave({});
});

t.test("the upstream's reasoning tokens reach chat and Responses usage", async (t) => {
  upstream.behave({ tokens: ['4'], reasoningTokens: 7 });
  const chat: any = await (await post({})).json();
  t.same(chat.usage, {
    prompt_tokens: 9,
    completion_tokens: 1,
    total_tokens: 10,
    completion_tokens_details: { reasoning_tokens: 7 },
  });
  const streamed = sseJson(
    parseSse(await (await post({ stream: true, stream_options: { include_usage: true } })).text()).events,
  );
  t.same(streamed.at(-1).usage.completion_tokens_details, { reasoning_tokens: 7 });
  const response: any = await (
    await fetch(`${stack.baseUrl}/v1/responses`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'testing', input: 'think' }),
    })
  ).json();
  t.match(response.usage, { output_tokens: 1, output_tokens_details: { reasoning_tokens: 7 } });
  upstream.behave({ tokens: ['plain'] });
  const plain: any = await (await post({})).json();
  t.notOk('completion_tokens_details' in plain.usage, 'absent when the upstream does not count them');
});

t.test("an answer the upstream's content filter cut never reads as complete", async (t) => {
  upstream.behave({ tokens: ['Here is how to'], finishReason: 'content_filter' });
  const chat: any = await (await post({})).json();
  t.equal(chat.choices[0].finish_reason, 'content_filter');
  t.equal(chat.choices[0].message.content, 'Here is how to');
  // As OpenAI streams it: the last choice chunk says content_filter, and [DONE] still follows.
  const { events } = parseSse(await (await post({ stream: true })).text());
  t.equal(events.at(-1)!.data, '[DONE]');
  t.equal(sseJson(events).at(-1).choices[0].finish_reason, 'content_filter');
  const legacy: any = await (
    await fetch(`${stack.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'testing', prompt: 'hi' }),
    })
  ).json();
  t.equal(legacy.choices[0].finish_reason, 'content_filter');
  const respond = (stream: boolean) =>
    fetch(`${stack.baseUrl}/v1/responses`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'testing', input: 'hi', stream }),
    });
  const response: any = await (await respond(false)).json();
  t.match(response, {
    status: 'incomplete',
    incomplete_details: { reason: 'content_filter' },
    output: [{ type: 'message', status: 'incomplete' }],
  });
  const streamed = parseSse(await (await respond(true)).text()).events;
  t.equal(streamed.at(-1)!.event, 'response.incomplete');
  t.match(JSON.parse(streamed.at(-1)!.data).response, { incomplete_details: { reason: 'content_filter' } });
  // Memory keeps the turn as a length-cut one is kept, and says how it ended.
  const stored: any = await (await fetch(`${stack.baseUrl}/v1/responses/${response.id}`, { headers: AUTH })).json();
  t.match(stored, { status: 'incomplete', incomplete_details: { reason: 'content_filter' } });
  // The WebSocket API passes it on, within its own frame schema.
  const live = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
  t.teardown(() => live.socket.terminate());
  await live.next((f) => f.type === 'ready');
  live.send({ type: 'chat', id: 'cf', agent: 'testing', messages: [{ role: 'user', content: 'hi' }] });
  t.match((await live.finish('cf')).terminal, { type: 'done', finish_reason: 'content_filter' });
  t.same(live.invalidFrames, []);
  // A call in a filtered answer may be cut: it does not turn the answer into a complete tool_calls one.
  upstream.behave({ tokens: [], toolCalls: [{ name: 'f', arguments: '{"a":' }], finishReason: 'content_filter' });
  const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
  const withCall: any = await (await post({ tools })).json();
  t.equal(withCall.choices[0].finish_reason, 'content_filter');
  // As after a length cut, the conversation goes on without the cut call: it takes no result.
  const id = withCall.choices[0].message.tool_calls[0].id;
  const result = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, 'x-session-id': withCall.conversation_id },
    body: JSON.stringify({ model: 'testing', tools, messages: [{ role: 'tool', tool_call_id: id, content: '1' }] }),
  });
  t.equal(result.status, 400);
  t.match(await result.json(), { error: { message: /cut short .* content filter/ } });
  upstream.behave({});
});

t.test("the upstream's refusal is message.refusal, refusal chunks and the Responses API's refusal part", async (t) => {
  const words = 'I cannot help with that.';
  upstream.behave({ refusal: ['I cannot', ' help with that.'] });
  const chat: any = await (await post({})).json();
  t.match(chat.choices[0], { message: { role: 'assistant', content: null, refusal: words }, finish_reason: 'stop' });
  // As OpenAI streams it: the role chunk has content null and refusal "", then the refusal's pieces.
  const chunks = sseJson(parseSse(await (await post({ stream: true })).text()).events);
  t.same(chunks[0].choices[0].delta, { role: 'assistant', content: null, refusal: '' });
  t.equal(chunks.map((c) => c.choices[0]?.delta.refusal ?? '').join(''), words);
  t.notOk(
    chunks.some((c) => c.choices[0]?.delta.content),
    'no text',
  );
  // The SDK finds it where OpenAI puts it: parse() gives no parsed value, stream() a refusal.
  const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only' });
  const schema = {
    type: 'object',
    properties: { a: { type: 'string' } },
    required: ['a'],
    additionalProperties: false,
  };
  const format = { type: 'json_schema' as const, json_schema: { name: 'answer', schema, strict: true } };
  const messages = [{ role: 'user' as const, content: 'hi' }];
  const parsed = await client.chat.completions.parse({ model: 'testing', messages, response_format: format });
  t.match(parsed.choices[0]!.message, { content: null, refusal: words, parsed: null });
  const streamed = await client.chat.completions.stream({ model: 'testing', messages }).finalChatCompletion();
  t.equal(streamed.choices[0]!.message.refusal, words);

  const respond = (stream: boolean) =>
    fetch(`${stack.baseUrl}/v1/responses`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'testing', input: 'hi', stream }),
    });
  const refused = [{ type: 'message', status: 'completed', content: [{ type: 'refusal', refusal: words }] }];
  const response: any = await (await respond(false)).json();
  t.match(response, { status: 'completed', output: refused });
  t.equal(response.output[0].content.length, 1, 'no empty text part beside it');
  const events = parseSse(await (await respond(true)).text()).events;
  const of = (type: string) => events.filter((e) => e.event === type).map((e) => JSON.parse(e.data));
  t.same(
    of('response.refusal.delta').map((e) => e.delta),
    ['I cannot', ' help with that.'],
  );
  t.match(of('response.refusal.done'), [{ content_index: 0, refusal: words }]);
  t.same(of('response.output_text.delta'), []);
  t.match(of('response.completed')[0].response, { output: refused });
  // Memory keeps the words as the answer (history replays them) and the refusal apart: read back the same.
  t.match(await turnOf(response.id), { assistant_response: words, refusal: words });
  const stored: any = await (await fetch(`${stack.baseUrl}/v1/responses/${response.id}`, { headers: AUTH })).json();
  t.match(stored, { status: 'completed', output: refused });
  t.equal(stored.output[0].content.length, 1);

  // The WebSocket chat frames carry it apart too, within their schema.
  const live = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
  t.teardown(() => live.socket.terminate());
  await live.next((f) => f.type === 'ready');
  live.send({ type: 'chat', id: 'rf', agent: 'testing', messages: [{ role: 'user', content: 'hi' }] });
  t.equal((await live.finish('rf')).text, '', 'no text');
  const ws = live.frames.flatMap((f) => (f.type === 'delta' && f.id === 'rf' ? [f.refusal ?? ''] : []));
  t.equal(ws.join(''), words);
  live.send({ type: 'response.create', id: 'rr', model: 'testing', input: 'hi' });
  const wsEvents = await live.finishResponse('rr');
  const wsRefusal = wsEvents.filter((f) => f.type === 'response.refusal.delta').map((f) => f['delta']);
  t.equal(wsRefusal.join(''), words);
  t.match(wsEvents.at(-1), { type: 'response.completed', response: { output: refused } });
  t.same(live.invalidFrames, [], 'every frame within the WebSocket schema');

  // A route that shows only text has the refusal as its text, as before.
  const legacy: any = await (
    await fetch(`${stack.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'testing', prompt: 'hi' }),
    })
  ).json();
  t.equal(legacy.choices[0].text, words);
  upstream.behave({});
});

const turnOf = (requestId: string) =>
  stack.db.selectFrom('turns').selectAll().where('request_id', '=', requestId).executeTakeFirst();

t.test('an upstream that sends no usage: the counts are estimated, not zeros', async (t) => {
  upstream.behave({ tokens: ['1', ' 2', ' 3'], noUsage: true });
  const chat: any = await (await post({ messages: [{ role: 'user', content: 'count to three, please' }] })).json();
  t.equal(chat.usage.completion_tokens, 3, 'one token a streamed chunk');
  t.ok(chat.usage.prompt_tokens > 0, `prompt_tokens ${chat.usage.prompt_tokens}`);
  t.equal(chat.usage.total_tokens, chat.usage.prompt_tokens + 3);
  await waitUntil(async () => (await turnOf(chat.id)) !== undefined);
  t.match(await turnOf(chat.id), { prompt_tokens: chat.usage.prompt_tokens, completion_tokens: 3 }, 'memory too');
  upstream.behave({});
});

t.test("a conversation outgrowing the server's context goes on without its oldest stored turns", async (t) => {
  let session: string | undefined;
  const question = 'Tell me about the weather in Lima, and in Cusco too, please. '.repeat(3);
  const ask = async () => {
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...AUTH, 'cache-control': 'no-cache', ...(session ? { 'x-session-id': session } : {}) },
      body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: question }] }),
    });
    const body = await res.json();
    session ??= body.conversation_id;
    return { status: res.status, body };
  };
  // Each server says "too long" its own way: OpenAI by code, llama-server by type, vLLM in words.
  for (const server of ['openai', 'llama-server', 'vllm'] as const) {
    session = undefined;
    upstream.behave({});
    for (let turn = 0; turn < 2; turn++) t.equal((await ask()).status, 200);
    const fits = JSON.stringify(upstream.requests.at(-1)!.body.messages).length;
    upstream.behave({ contextChars: fits, server });
    const before = upstream.requests.length;
    const next = await ask();
    t.equal(next.status, 200, `${server}: answered ${JSON.stringify(next.body.error ?? '')}`);
    const sent = upstream.requests.slice(before).map((r) => JSON.stringify(r.body.messages).length);
    t.equal(sent.length, 2, `${server}: refused once, then sent without the oldest turn`);
    t.ok(sent[1]! <= fits && sent[1]! < sent[0]!, `${server}: shorter the second time (${sent.join(' → ')})`);
    // A question too long alone is the client's own: the server's 400, once nothing stored is left to drop.
    upstream.behave({ contextChars: 10, server });
    const alone = await ask();
    t.equal(alone.status, 400);
    t.match(alone.body, { error: { code: 'context_length_exceeded', param: 'messages' } }, server);
  }
  upstream.behave({});
});

t.test('upstream errors map to the error table and name OPENAI_BASE_URL', async (t) => {
  upstream.behave({ failWith: { status: 500, message: 'upstream exploded' } });
  const failed = await post({});
  t.equal(failed.status, 502);
  t.match(await failed.json(), { error: { code: 'backend_error', message: /HTTP 500.*upstream exploded/ } });
  upstream.behave({});
  const lane = await startStack({
    provider: createOpenAIProvider({ baseUrl: upstream.url, apiKey: undefined }),
    env: { DEFAULT_MODEL: 'no-such-model' },
  });
  t.teardown(() => lane.close());
  const missing = await fetch(`${lane.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'hi' }] }),
  });
  t.equal(missing.status, 502);
  t.match(await missing.json(), { error: { code: 'backend_model_not_found', message: /no-such-model/ } });
  const unreachable = createOpenAIProvider({ baseUrl: 'http://127.0.0.1:9/v1', apiKey: undefined });
  t.match(await unreachable.probe(['x']), {
    reachable: false,
    error: /not reachable at http:\/\/127\.0\.0\.1:9\/v1 \(OPENAI_BASE_URL\)/,
  });
  t.match(await createOpenAIProvider({ baseUrl: upstream.url, apiKey: undefined }).probe(['gpt-test', 'other']), {
    reachable: true,
    missingModels: ['other'],
  });
});

t.test("an upstream refusing the worker's key: 502 not to retry, naming OPENAI_API_KEY, asked once", async (t) => {
  upstream.behave({ failWith: { status: 401, message: 'Incorrect API key provided' } });
  const before = upstream.requests.length;
  const refused = await post({});
  t.equal(refused.status, 502);
  t.equal(refused.headers.get('x-should-retry'), 'false');
  t.match(await refused.json(), {
    error: { code: 'backend_auth_failed', message: /refused the key \(HTTP 401\): set OPENAI_API_KEY/ },
  });
  t.equal(upstream.requests.length - before, 1, 'the gateway does not send it again');
  upstream.behave({});
});

t.test('a client leaving aborts the upstream request', async (t) => {
  // 10 s of answer: an upstream that saw its request closed (not finished) was stopped by the client.
  upstream.behave({ tokens: Array.from({ length: 250 }, (_, i) => `t${i} `), tokenDelayMs: 40 });
  const abort = new AbortController();
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', stream: true, messages: [{ role: 'user', content: 'long' }] }),
    signal: abort.signal,
  });
  const reader = res.body!.getReader();
  await reader.read();
  await reader.read();
  abort.abort();
  t.ok(await waitUntil(() => upstream.requests.at(-1)!.aborted), 'the upstream saw its request closed');
});
