import t from 'tap';
import { AUTH, startSideLane, startStack } from '../helpers/stack.js';
import { parseSse, sseJson } from '../helpers/sse.js';

// Raw HTTP, so the exact bytes OpenAI clients parse are checked, and the fake Ollama shows
// what each OpenAI parameter became on the backend.
const stack = await startStack({ ollamaModels: ['llama3.2:latest', 'llava:latest'], visionModels: ['llava'] });
t.teardown(() => stack.close());
const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, ...headers },
    body: JSON.stringify(body),
  });
const tool = (name: string) => ({
  type: 'function',
  function: { name, parameters: { type: 'object', properties: { q: { type: 'string' } } } },
});
const PIXEL = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

t.test(
  'sampling parameters map through the Ollama parameter table; max_completion_tokens wins over max_tokens',
  async (t) => {
    const res = await post({
      model: 'testing',
      messages: [
        { role: 'developer', content: 'be brief' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'hello ' },
            { type: 'text', text: 'there' },
          ],
        },
      ],
      temperature: 0.3,
      top_p: 0.9,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      seed: 1,
      stop: ['x', 'y'],
      max_tokens: 10,
      max_completion_tokens: 20,
    });
    t.equal(res.status, 200);
    const sent = stack.ollama.requests.at(-1)!;
    t.same(sent.options, {
      temperature: 0.3,
      top_p: 0.9,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      seed: 1,
      stop: ['x', 'y'],
      num_predict: 20,
    });
    t.match(sent.messages[0], { role: 'system', content: /\n\nbe brief$/ }, 'developer → system');
    t.same(sent.messages.slice(1), [{ role: 'user', content: 'hello \nthere' }], 'text parts one per line');
  },
);

t.test('response_format: json_object → format "json"; json_schema → the schema (structured outputs)', async (t) => {
  await post({
    model: 'testing',
    messages: [{ role: 'user', content: 'json please' }],
    response_format: { type: 'json_object' },
  });
  t.equal(stack.ollama.requests.at(-1)!.format, 'json');
  const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };
  await post({
    model: 'testing',
    messages: [{ role: 'user', content: 'json please' }],
    response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
  });
  t.same(stack.ollama.requests.at(-1)!.format, schema);
  await post({ model: 'testing', messages: [{ role: 'user', content: 'text' }], response_format: { type: 'text' } });
  t.equal(stack.ollama.requests.at(-1)!.format, undefined, 'text sends no format');
});

t.test('strict structured outputs on Ollama are checked against the whole schema', async (t) => {
  const schema = { type: 'object', properties: { score: { type: 'number', minimum: 0.5 } }, required: ['score'] };
  const ask = async (strict: boolean, extra: object = {}) => {
    const res = await post({
      model: 'testing',
      messages: [{ role: 'user', content: 'rate it' }],
      response_format: { type: 'json_schema', json_schema: { name: 'rating', schema, strict } },
      ...extra,
    });
    return { status: res.status, body: await res.json() };
  };
  // Ollama's grammar holds the shape, not a number's bounds: the model can write 0.25.
  stack.ollama.behave({ tokens: ['{"score"', ': 0.25}'] });
  const broken = await ask(true);
  t.equal(broken.status, 400);
  t.match(broken.body.error, { param: 'response_format', message: /breaks the response_format schema.*score/ });
  t.equal((await ask(false)).status, 200, 'without strict the schema guides and is not checked');
  t.equal((await ask(true, { stop: ['}'] })).status, 200, 'a stop sequence may end it early: not checked');
  const lookahead = await ask(true, {
    response_format: {
      type: 'json_schema',
      json_schema: { name: 'r', strict: true, schema: { type: 'object', properties: { a: { pattern: '^(?=x)' } } } },
    },
  });
  t.equal(lookahead.status, 200, 'a schema the check cannot compile goes to Ollama as before, unchecked');
  stack.ollama.behave({ tokens: ['{"score"', ': 4}'] });
  const kept = await ask(true);
  t.equal(kept.status, 200);
  t.same(JSON.parse(kept.body.choices[0].message.content), { score: 4 });
  // A thinking model given a format may answer in its thinking only.
  stack.ollama.behave({ tokens: [], thinking: ['{"score": 4}'] });
  const thought = await ask(true);
  t.equal(thought.status, 400);
  t.match(thought.body.error.message, /whole answer in its thinking.*reasoning_effort "none"/);
});

t.test('a streamed strict output that breaks its schema ends in an error event, and is not stored', async (t) => {
  const schema = { type: 'object', properties: { score: { type: 'number', minimum: 0.5 } }, required: ['score'] };
  const rating = { type: 'json_schema', json_schema: { name: 'rating', schema, strict: true } };
  stack.ollama.behave({ tokens: ['{"score"', ': 4}'] });
  const first = await post({
    model: 'testing',
    messages: [{ role: 'user', content: 'rate it' }],
    response_format: rating,
  });
  const conversation = ((await first.json()) as { conversation_id: string }).conversation_id;

  stack.ollama.behave({ tokens: ['{"score"', ': 0.25}'] });
  const res = await post(
    { model: 'testing', stream: true, messages: [{ role: 'user', content: 'again' }], response_format: rating },
    { 'x-session-id': conversation },
  );
  t.equal(res.status, 200, 'the stream had started');
  const { events } = parseSse(await res.text());
  const chunks = sseJson(events.slice(0, -1));
  t.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), '{"score": 0.25}', 'the text went out');
  t.ok(
    chunks.every((c) => c.choices[0].finish_reason === null),
    'no chunk claims a finish_reason',
  );
  t.notOk(
    events.some((e) => e.data === '[DONE]'),
    'no [DONE]: the answer must not look complete',
  );
  t.equal(events.at(-1)!.event, 'error');
  t.match(JSON.parse(events.at(-1)!.data), {
    error: { type: 'invalid_request_error', param: 'response_format', message: /breaks the response_format schema/ },
  });
  const memory = await fetch(`${stack.baseUrl}/memory/last?session=${conversation}&limit=10`, { headers: AUTH });
  const turns = ((await memory.json()) as { data: { assistant_response: string }[] }).data;
  t.same(
    turns.map((turn) => turn.assistant_response),
    ['{"score": 4}'],
    'only the first turn is in the conversation',
  );
});

t.test("streamed tool calls: exactly OpenAI's fragments, indices per call, finish_reason tool_calls", async (t) => {
  stack.ollama.behave({
    tokens: [],
    toolCalls: [
      { name: 'search', arguments: { q: 'nats' } },
      { name: 'lookup', arguments: { q: 'kv' } },
    ],
  });
  const res = await post({
    model: 'testing',
    stream: true,
    messages: [{ role: 'user', content: 'find' }],
    tools: [tool('search'), tool('lookup')],
  });
  const chunks = sseJson(parseSse(await res.text()).events);
  const fragments = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
  // As OpenAI: the role comes with the first fragment and content null (no empty text part).
  t.match(chunks[0].choices[0].delta, { role: 'assistant', content: null, refusal: null, tool_calls: [{ index: 0 }] });
  t.notOk(
    chunks.some((c) => typeof c.choices[0]?.delta.content === 'string'),
    'no text chunk',
  );
  t.match(
    fragments[0],
    { index: 0, id: /^call_/, type: 'function', function: { name: 'search', arguments: '' } },
    'first fragment of call 0',
  );
  t.same(Object.keys(fragments[1]).sort(), ['function', 'index'], 'later fragments carry only index and arguments');
  t.same(fragments[1], { index: 0, function: { arguments: '{"q":"nats"}' } });
  t.match(fragments[2], { index: 1, id: /^call_/, type: 'function', function: { name: 'lookup', arguments: '' } });
  t.same(fragments[3], { index: 1, function: { arguments: '{"q":"kv"}' } });
  t.not(fragments[0].id, fragments[2].id, 'each call has its own id');
  t.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
});

t.test('parallel_tool_calls: false keeps the first call only', async (t) => {
  stack.ollama.behave({
    tokens: [],
    toolCalls: [
      { name: 'search', arguments: { q: 'a' } },
      { name: 'search', arguments: { q: 'b' } },
    ],
  });
  const body: any = await (
    await post({
      model: 'testing',
      messages: [{ role: 'user', content: 'find' }],
      tools: [tool('search')],
      parallel_tool_calls: false,
    })
  ).json();
  t.equal(body.choices[0].message.tool_calls.length, 1);
  t.equal(body.choices[0].message.tool_calls[0].function.arguments, '{"q":"a"}');
});

t.test('tool_choice "none" sends no tools; a tool_choice naming an unknown function is a 400', async (t) => {
  await post({
    model: 'testing',
    messages: [{ role: 'user', content: 'x' }],
    tools: [tool('search')],
    tool_choice: 'none',
  });
  t.equal(stack.ollama.requests.at(-1)!.tools, undefined);
  const res = await post({
    model: 'testing',
    messages: [{ role: 'user', content: 'x' }],
    tools: [tool('search')],
    tool_choice: { type: 'function', function: { name: 'other' } },
  });
  t.equal(res.status, 400);
  t.match(await res.json(), { error: { code: 'invalid_request', param: 'tool_choice' } });
});

t.test('tool-call arguments that are not a JSON object: 400, nothing stored, model not called', async (t) => {
  const before = stack.ollama.requests.length;
  const res = await post({
    model: 'testing',
    messages: [
      { role: 'user', content: 'x' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'search', arguments: 'not json' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'r' },
    ],
    tools: [tool('search')],
  });
  t.equal(res.status, 400);
  t.match(await res.json(), { error: { code: 'invalid_request', message: /not a JSON object/ } });
  t.equal(stack.ollama.requests.length, before);
});

t.test(
  'images: data URLs reach a vision model as base64; a text-only model answers 400; memory keeps no image',
  async (t) => {
    const content = [
      { type: 'text', text: 'what is' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PIXEL}`, detail: 'high' } },
      { type: 'text', text: 'this?' },
    ];
    const lane = await startSideLane(stack, { prefix: 'vision', defaultModel: 'llava' });
    const ok = await fetch(`${lane.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content }] }),
    });
    t.equal(ok.status, 200);
    const body: any = await ok.json();
    // Ollama takes one string and a list of images: the texts one a line, never glued together.
    t.same(stack.ollama.requests.at(-1)!.messages.at(-1), { role: 'user', content: 'what is\nthis?', images: [PIXEL] });
    const row = await stack.db
      .selectFrom('turns')
      .select('input_messages')
      .where('request_id', '=', body.id)
      .executeTakeFirstOrThrow();
    t.notMatch(row.input_messages, PIXEL, 'the image is not stored');
    await lane.close();

    const before = stack.ollama.requests.length;
    const refused = await post({ model: 'testing', messages: [{ role: 'user', content }] });
    t.equal(refused.status, 400);
    t.match(await refused.json(), {
      error: { code: 'invalid_request', param: 'messages', message: /does not take images/ },
    });
    t.equal(stack.ollama.requests.length, before, 'the model was not called');
  },
);

t.test('a tool round trip in a session is replayed as history with its tool calls', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'search', arguments: { q: 'x' } }] });
  const first: any = await (
    await post({ model: 'testing', messages: [{ role: 'user', content: 'search x' }], tools: [tool('search')] })
  ).json();
  const call = first.choices[0].message.tool_calls[0];
  stack.ollama.behave({ tokens: ['found it'] });
  const headers = { 'x-session-id': first.conversation_id };
  await post(
    {
      model: 'testing',
      messages: [
        { role: 'user', content: 'search x' },
        first.choices[0].message,
        { role: 'tool', tool_call_id: call.id, content: 'result' },
      ],
      tools: [tool('search')],
    },
    headers,
  );
  await post({ model: 'testing', messages: [{ role: 'user', content: 'thanks' }] }, headers);
  const replayed = stack.ollama.requests
    .at(-1)!
    .messages.slice(1)
    .map((m) => ({
      role: m.role,
      content: m.content,
      ...(m.tool_calls ? { tool_calls: m.tool_calls } : {}),
      ...(m.tool_name ? { tool_name: m.tool_name } : {}),
    }));
  t.same(replayed, [
    { role: 'user', content: 'search x' },
    { role: 'assistant', content: '', tool_calls: [{ function: { name: 'search', arguments: { q: 'x' } } }] },
    { role: 'tool', content: 'result', tool_name: 'search' },
    { role: 'assistant', content: 'found it' },
    { role: 'user', content: 'thanks' },
  ]);
});

t.test('an error before a stream starts is a plain HTTP error that still names the request and trace', async (t) => {
  stack.ollama.behave({ failWith: { status: 500, message: 'boom' } });
  t.teardown(() => stack.ollama.behave({}));
  const res = await post(
    { model: 'testing', stream: true, messages: [{ role: 'user', content: 'x' }] },
    { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  );
  t.equal(res.status, 502);
  t.match(res.headers.get('x-request-id'), /^chatcmpl-/);
  t.equal(res.headers.get('traceparent'), '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  t.match(await res.json(), { error: { code: 'backend_error' } });
});
