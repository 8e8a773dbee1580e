import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';
import { openLiveClient } from '../helpers/ws-client.js';

// `store: false` on every chat face, and requests refused as OpenAI refuses them rather than
// answered or ignored: the real stack (nats-server, gateway, worker, SQLite, fake Ollama).
const stack = await startStack();
t.teardown(() => stack.close());
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${stack.baseUrl}${url}`, { method: 'POST', headers: { ...AUTH, ...headers }, body: JSON.stringify(body) });
const json = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await post(url, body, headers);
  return { status: res.status, body: await res.json() };
};
const turnOf = (requestId: string) =>
  stack.db.selectFrom('turns').select('request_id').where('request_id', '=', requestId).executeTakeFirst();
const lastTurns = (session: string) => fetch(`${stack.baseUrl}/memory/last?session=${session}`, { headers: AUTH });
const user = (content: string) => [{ role: 'user', content }];

t.test('store: false on /v1/chat/completions and /v1/completions: answered, nothing kept', async (t) => {
  stack.ollama.behave({ tokens: ['kept nowhere'] });
  const chat = await json('/v1/chat/completions', { model: 'testing', messages: user('secret'), store: false });
  t.equal(chat.status, 200);
  t.equal(chat.body.choices[0].message.content, 'kept nowhere');
  const streamed = await post('/v1/chat/completions', {
    model: 'testing',
    messages: user('secret'),
    store: false,
    stream: true,
  });
  t.match(await streamed.text(), /data: \[DONE\]/);
  const streamedId = streamed.headers.get('x-request-id')!;
  const completion = await json('/v1/completions', { model: 'testing', prompt: 'secret', store: false });
  t.equal(completion.status, 200);
  for (const id of [chat.body.id, streamedId, completion.body.id]) t.equal(await turnOf(id), undefined, `${id}`);
  t.equal((await lastTurns(chat.body.conversation_id)).status, 404, 'no conversation for /memory/last to list');

  const kept = await json('/v1/chat/completions', { model: 'testing', messages: user('keep me'), store: true });
  t.ok(await turnOf(kept.body.id), 'store: true (the default) keeps the turn, as before');
  t.equal((await lastTurns(kept.body.conversation_id)).status, 200);
});

t.test('store: false in a WebSocket chat frame keeps nothing either', async (t) => {
  const client = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
  t.teardown(() => client.close());
  stack.ollama.behave({ tokens: ['ok'] });
  client.send({ type: 'chat', id: 'w1', agent: 'testing', messages: user('secret'), store: false });
  const { terminal } = await client.finish('w1');
  t.equal(terminal.type, 'done');
  t.equal(await turnOf((terminal as { completion_id: string }).completion_id), undefined);
  client.send({ type: 'chat', id: 'w2', agent: 'testing', messages: user('x'), store: false, session_id: 'conv_1' });
  const refused = await client.finish('w2');
  t.match(refused.terminal, { type: 'error', error: { code: 'invalid_request', param: 'store' } });
});

t.test('store: false with a session to continue is a 400 naming store, on every route', async (t) => {
  stack.ollama.behave({ tokens: ['first'] });
  const first = await json('/v1/chat/completions', { model: 'testing', messages: user('hi') });
  const session = { 'x-session-id': first.body.conversation_id };
  const before = stack.ollama.requests.length;
  for (const [url, body] of [
    ['/v1/chat/completions', { model: 'testing', messages: user('more'), store: false }],
    ['/v1/completions', { model: 'testing', prompt: 'more', store: false }],
    ['/v1/responses', { model: 'testing', input: 'more', store: false }],
  ] as const) {
    const refused = await json(url, body, session);
    t.equal(refused.status, 400, url);
    t.match(refused.body.error, { code: 'invalid_request', param: 'store', message: /cannot continue the session/ });
  }
  t.equal(stack.ollama.requests.length, before, 'no model was asked');
});

t.test('a speech or transcription model name on a chat route: 400, not a chat model', async (t) => {
  for (const [url, body] of [
    ['/v1/chat/completions', { model: 'tts-1', messages: user('hi') }],
    ['/v1/completions', { model: 'whisper-1', prompt: 'hi' }],
  ] as const) {
    const refused = await json(url, body);
    t.equal(refused.status, 400, url);
    t.match(refused.body.error, {
      type: 'invalid_request_error',
      code: 'invalid_request',
      param: 'model',
      message: /^This is not a chat model: .* of the voice agent "voice_processor"/,
    });
  }
  t.equal((await json('/v1/chat/completions', { model: 'no-such', messages: user('hi') })).status, 404);
});

t.test('tools: [] and tool results that answer no call are refused as OpenAI refuses them', async (t) => {
  const before = stack.ollama.requests.length;
  const empty = await json('/v1/chat/completions', { model: 'testing', messages: user('hi'), tools: [] });
  t.match(empty, { status: 400, body: { error: { code: 'invalid_request', param: 'tools' } } });
  const call = { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } };
  const wrongId = await json('/v1/chat/completions', {
    model: 'testing',
    messages: [
      ...user('q'),
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: 'call_9', content: 'r' },
    ],
  });
  t.match(wrongId, {
    status: 400,
    body: {
      error: {
        param: 'messages[2].tool_call_id',
        message: "Invalid parameter: 'tool_call_id' of 'call_9' not found in 'tool_calls' of previous message.",
      },
    },
  });
  const twice = await json('/v1/chat/completions', {
    model: 'testing',
    messages: [
      ...user('q'),
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: 'call_1', content: 'r' },
      { role: 'tool', tool_call_id: 'call_1', content: 'r again' },
    ],
  });
  t.match(twice, { status: 400, body: { error: { param: 'messages[3].tool_call_id', message: /Duplicate value/ } } });
  const orphan = await json('/v1/chat/completions', {
    model: 'testing',
    messages: [...user('q'), { role: 'tool', tool_call_id: 'call_1', content: 'r' }],
  });
  t.match(orphan, {
    status: 400,
    body: { error: { param: 'messages[1].role', message: /must be a response to a preceeding message/ } },
  });
  t.equal(stack.ollama.requests.length, before, 'no model was asked');
});

t.test("/v1/responses: the worker's refusals name the Responses fields, not the chat ones", async (t) => {
  stack.ollama.behave({ failWith: { status: 400, message: '"llama3.2" does not support thinking' } });
  t.teardown(() => stack.ollama.behave({}));
  for (const stream of [false, true]) {
    const effort = await json('/v1/responses', { model: 'testing', input: 'hi', reasoning: { effort: 'low' }, stream });
    t.match(effort, { status: 400, body: { error: { param: 'reasoning.effort', message: /reasoning\.effort/ } } });
  }
  stack.ollama.behave({});
  const tool = { type: 'function', name: 'f', parameters: { type: 'object' } };
  const format = await json('/v1/responses', {
    model: 'testing',
    input: 'hi',
    tools: [tool],
    tool_choice: 'required',
    text: { format: { type: 'json_object' } },
  });
  t.match(format, { status: 400, body: { error: { param: 'text.format', message: /^text\.format and a forced/ } } });
  const output = await json('/v1/responses', {
    model: 'testing',
    input: [
      { role: 'user', content: 'q' },
      { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
      { type: 'function_call_output', call_id: 'c2', output: 'r' },
    ],
  });
  t.match(output, { status: 400, body: { error: { param: 'input[2].call_id' } } });
});

t.test("tool results that open a request continuing a session must answer its last turn's calls", async (t) => {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
  stack.ollama.behave({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Lima' } }] });
  const first = await json('/v1/chat/completions', { model: 'testing', messages: user('Weather?'), tools });
  stack.ollama.behave({});
  t.equal(first.status, 200);
  const callId = first.body.choices[0].message.tool_calls[0].id;
  const session = { 'x-session-id': first.body.conversation_id };
  const before = stack.ollama.requests.length;
  const result = (id: string) => [{ role: 'tool', tool_call_id: id, content: 'sunny' }];

  const wrong = await json('/v1/chat/completions', { model: 'testing', messages: result('call_nope') }, session);
  t.match(wrong, {
    status: 400,
    body: {
      error: {
        param: 'messages[0].tool_call_id',
        message: "Invalid parameter: 'tool_call_id' of 'call_nope' not found in 'tool_calls' of previous message.",
      },
    },
  });
  t.equal(stack.ollama.requests.length, before, 'the model never saw a result for a call it did not make');
  const right = await json('/v1/chat/completions', { model: 'testing', messages: result(callId) }, session);
  t.equal(right.status, 200, "the result of the stored turn's call is answered");
  t.match(stack.ollama.requests.at(-1)!.messages.at(-1), { role: 'tool', content: 'sunny' });

  // Now the last turn holds no call: a second result answers nothing.
  const again = await json('/v1/chat/completions', { model: 'testing', messages: result(callId) }, session);
  t.match(again, {
    status: 400,
    body: { error: { param: 'messages[0].role', message: /must be a response to a preceeding message/ } },
  });
  // The Responses API's names and words: function_call_output continuing the conversation.
  const output = await json('/v1/responses', {
    model: 'testing',
    conversation: first.body.conversation_id,
    input: [{ type: 'function_call_output', call_id: 'call_nope', output: 'r' }],
  });
  t.match(output, {
    status: 400,
    body: {
      error: {
        param: 'input[0].call_id',
        message: 'No tool call found for function call output with call_id call_nope.',
      },
    },
  });

  // A stored call left without its result: the conversation cannot go on past it.
  stack.ollama.behave({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Quito' } }] });
  const called = await json('/v1/chat/completions', { model: 'testing', messages: user('Weather?'), tools });
  stack.ollama.behave({});
  const pending = called.body.choices[0].message.tool_calls[0].id;
  const onward = await json(
    '/v1/chat/completions',
    { model: 'testing', messages: user('never mind') },
    {
      'x-session-id': called.body.conversation_id,
    },
  );
  t.match(onward, {
    status: 400,
    body: { error: { param: 'messages[0].role', message: new RegExp(`did not have response messages: ${pending}$`) } },
  });
  const onwardResponses = await json('/v1/responses', {
    model: 'testing',
    conversation: called.body.conversation_id,
    input: 'never mind',
  });
  t.match(onwardResponses, {
    status: 400,
    body: { error: { message: `No tool output found for function call ${pending}.` } },
  });
});
