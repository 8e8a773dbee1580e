import { basename, join } from 'node:path';
import t from 'tap';
import { createLlamaCppProvider } from '../../workers/providers/llama-cpp/index.js';
import { toolArgumentsCheck } from '../../workers/providers/schema-check.js';
import { parseSse, sseJson } from '../helpers/sse.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { TEST_GGUF } from '../helpers/test-model.js';
import { traceLine } from '../helpers/trace-lines.js';
import { waitUntil } from '../helpers/wait.js';

// A real inference engine end to end: gateway → NATS → worker → llama.cpp (node-llama-cpp, in
// process) → SSE, on the real tiny model from ../shared/models. The model writes childish
// story prose: the assertions are about structure (tokens arrive, counts, stop reasons,
// cancellation), never about wording.
const MODEL = TEST_GGUF;

// The provider as a worker makes it from its settings; a small default cap keeps the test fast.
// The worker's start-up probe loads the model, as in a real worker: no request's deadline pays for it.
const LLAMA_ENV = {
  PROVIDER: 'llama-cpp',
  LLAMA_CPP_MODEL_PATH: MODEL,
  LLAMA_CPP_PARALLEL: '2',
  LLAMA_CPP_CONTEXT_SIZE: '512',
  DEFAULT_MODEL: 'stories260K',
  BACKEND_PROBE_INTERVAL_MS: '600000',
};
const DEFAULT_CAP = 8;
const stack = await startStack({ env: { ...LLAMA_ENV, LLAMA_CPP_MAX_TOKENS: String(DEFAULT_CAP) } });
t.teardown(() => stack.close());
const postTo = (baseUrl: string, body: Record<string, unknown>, signal?: AbortSignal) =>
  fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    // Past the response cache: every request reaches the model.
    headers: { ...AUTH, 'cache-control': 'no-cache' },
    body: JSON.stringify({ model: 'documentation', ...body }),
    ...(signal ? { signal } : {}),
  });
const post = (body: Record<string, unknown>, signal?: AbortSignal) => postTo(stack.baseUrl, body, signal);
const turns = async () =>
  await stack.db
    .selectFrom('turns')
    .select(['request_id', 'assistant_response', 'completion_tokens', 'prompt_tokens', 'model'])
    .execute();

t.test(
  'a streamed answer comes token by token from llama.cpp, ends at max_tokens with finish_reason "length"',
  async (t) => {
    const res = await post({
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 24,
      temperature: 0.8,
      seed: 42,
      messages: [{ role: 'user', content: 'Tell me a story about a cat.' }],
    });
    t.equal(res.status, 200);
    const { events } = parseSse(await res.text());
    t.equal(events.at(-1)!.data, '[DONE]');
    const chunks = sseJson(events);
    const pieces = chunks
      .map((c) => c.choices[0]?.delta.content)
      .filter((c): c is string => typeof c === 'string' && c.length > 0);
    t.ok(pieces.length >= 5, `${pieces.length} content chunks streamed`);
    const final = chunks.at(-2);
    t.equal(final.choices[0].finish_reason, 'length');
    const usage = chunks.at(-1).usage;
    t.equal(usage.completion_tokens, 24, 'as many tokens as max_tokens');
    t.ok(usage.prompt_tokens > 0, 'prompt tokens counted');
    const row = (await turns()).find((r) => r.request_id === final.id);
    t.equal(row?.assistant_response, pieces.join(''), 'the streamed text is the stored turn');
    t.equal(row?.completion_tokens, 24);
  },
);

t.test('the same seed gives the same answer; a continued conversation feeds the history to the model', async (t) => {
  const ask = async (headers: Record<string, string> = {}) => {
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...AUTH, ...headers },
      body: JSON.stringify({
        model: 'documentation',
        max_tokens: 16,
        temperature: 0.7,
        seed: 7,
        messages: [{ role: 'user', content: 'Once upon a time' }],
      }),
    });
    t.equal(res.status, 200);
    return res.json();
  };
  const first = await ask();
  const second = await ask();
  t.equal(second.choices[0].message.content, first.choices[0].message.content, 'deterministic with a seed');
  const continued = await ask({ 'x-session-id': first.conversation_id });
  t.equal(continued.meta.memory_used, true);
  t.ok(
    continued.usage.prompt_tokens > first.usage.prompt_tokens,
    `the prompt grew with the history (${first.usage.prompt_tokens} → ${continued.usage.prompt_tokens} tokens)`,
  );
});

t.test('without a seed, requests of the same second are sampled apart', async (t) => {
  // node-llama-cpp's own seed is the clock's second: these would all have been one answer.
  const answers = await Promise.all(
    Array.from({ length: 3 }, async () => {
      const res = await post({
        model: 'documentation',
        max_tokens: 24,
        temperature: 1.5,
        messages: [{ role: 'user', content: 'Tell me a story' }],
      });
      t.equal(res.status, 200);
      return ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content;
    }),
  );
  t.ok(new Set(answers).size > 1, `different answers: ${JSON.stringify(answers)}`);
});

t.test('a client leaving stops the generation; nothing is stored', async (t) => {
  const before = (await turns()).length;
  // The worker logs the cancel where it gives the request up: from that line on, nothing is stored.
  const cancelLogs = () =>
    stack.logs.lines.filter((l) => l['worker'] !== undefined && l['code'] === 'request_cancelled').length;
  const cancelsBefore = cancelLogs();
  const abort = new AbortController();
  const res = await post(
    // Most of the room the 512-token context leaves beside the agent's ~180-token prompt: long
    // enough to be under way when the client leaves.
    { stream: true, max_tokens: 300, messages: [{ role: 'user', content: 'A very long story, please.' }] },
    abort.signal,
  );
  const reader = res.body!.getReader();
  await reader.read();
  await reader.read();
  abort.abort();
  t.ok(await waitUntil(() => cancelLogs() > cancelsBefore), 'the worker stopped the generation');
  t.equal((await turns()).length, before);
  // The engine is free again.
  const after = await post({ max_tokens: 4, messages: [{ role: 'user', content: 'Hi' }] });
  t.equal(after.status, 200);
});

t.test('what llama-cpp cannot honour is a 400 naming it, not silently dropped', async (t) => {
  const tools = [{ type: 'function', function: { name: 'get_time', parameters: { type: 'object' } } }];
  // "auto": the functions' documentation (~450 of this tokenizer's tokens) does not fit this 512-token
  // context beside the agent's prompt; the message says the tools are what overflows.
  const auto = await post({ tools, messages: [{ role: 'user', content: 'time?' }] });
  t.equal(auto.status, 400);
  t.match(await auto.json(), {
    error: { code: 'context_length_exceeded', param: 'tools', message: /of them the tools' documentation/ },
  });
  // Held to a schema, the output must match it: a rule the grammar cannot hold is checked afterwards.
  const pattern = {
    type: 'function',
    function: {
      name: 'f',
      parameters: { type: 'object', properties: { a: { type: 'string', pattern: '^[0-9]{40}$' } } },
    },
  };
  const patterned = await post({
    tools: [pattern],
    tool_choice: 'required',
    max_tokens: 48,
    messages: [{ role: 'user', content: 'x' }],
  });
  t.equal(patterned.status, 400);
  t.match(await patterned.json(), {
    error: { param: 'tools', message: /call of "f" .*arguments\.a must match pattern/ },
  });
  // "none" asks for text: the tools are left out, not refused.
  const none = await post({ tools, tool_choice: 'none', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] });
  t.equal(none.status, 200);
  t.type((await none.json()).choices[0].message.content, 'string');
  const penalty = await post({ presence_penalty: 1, messages: [{ role: 'user', content: 'hi' }] });
  t.equal(penalty.status, 400);
  t.match(await penalty.json(), { error: { param: 'presence_penalty' } });
});

t.test('a forced tool call: a grammar holds the real model to the schema, and it is a tool call', async (t) => {
  const weather = {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: {
        type: 'object',
        properties: { city: { enum: ['Dhaka', 'Paris'] } },
        required: ['city'],
      },
    },
  };
  const ask = { messages: [{ role: 'user', content: 'Weather?' }], tools: [weather], max_tokens: 48 };
  const res = await post({ ...ask, tool_choice: 'required' });
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.equal(body.choices[0].finish_reason, 'tool_calls');
  const call = body.choices[0].message.tool_calls[0];
  t.equal(call.function.name, 'get_weather');
  t.match(
    JSON.parse(call.function.arguments),
    { city: /^(Dhaka|Paris)$/ },
    "the story model still wrote the schema's JSON",
  );

  // The round trip: the call and its result go back to the model as text; it answers in text.
  const followUp = await post({
    messages: [...ask.messages, body.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'sunny' }],
    max_tokens: 4,
  });
  t.equal(followUp.status, 200);
  t.type((await followUp.json()).choices[0].message.content, 'string');

  // zod 4's z.tuple() (draft 2020-12): prefixItems closed by `items: false`, which the grammar takes as a length.
  const tuple = { type: 'array', prefixItems: [{ enum: ['a', 'b'] }, { enum: [1, 2] }], items: false, minItems: 2 };
  const draft = 'https://json-schema.org/draft/2020-12/schema';
  const parameters = { $schema: draft, type: 'object', properties: { p: tuple }, required: ['p'] };
  const pair = { name: 'pair', parameters };
  const paired = await post({ ...ask, tools: [{ type: 'function', function: pair }], tool_choice: 'required' });
  const answered = await paired.json();
  t.equal(paired.status, 200, `a closed tuple is held, not refused: ${JSON.stringify(answered)}`);
  const args = JSON.parse(answered.choices[0].message.tool_calls[0].function.arguments);
  t.match(args, { p: [/^(a|b)$/, /^(1|2)$/] }, 'a closed tuple written whole');
  t.equal(args.p.length, 2, 'and no item past it');

  // zod's z.any() in some modes: a property whose schema is `true` takes any value, as `{}` does (the
  // grammar allows more than null: the unit test reads it). Properties without a type make an object.
  const city = weather.function.parameters.properties.city;
  const where = { properties: { town: city }, required: ['town'] };
  const loose = { type: 'object', properties: { city, where, note: true } };
  const anything = { name: 'note', parameters: { ...loose, required: ['city', 'where', 'note'] } };
  const tools = [{ type: 'function', function: anything }];
  // A seed, for one answer every run; room for a value of any length, so the call is written whole.
  const noted = await post({ ...ask, tools, tool_choice: 'required', max_tokens: 160, seed: 7 });
  const answer = await noted.json();
  t.equal(noted.status, 200, `a property \`true\` is held, not refused: ${JSON.stringify(answer)}`);
  t.equal(answer.choices[0].finish_reason, 'tool_calls', 'the call written whole');
  const written = JSON.parse(answer.choices[0].message.tool_calls[0].function.arguments);
  t.match(written, { city: /^(Dhaka|Paris)$/, where: { town: /^(Dhaka|Paris)$/ } }, 'a valid call');
  t.ok(Object.hasOwn(written, 'note'), `with the property of any value: ${JSON.stringify(written.note)}`);
  t.doesNotThrow(() => toolArgumentsCheck('note', anything.parameters)(written), "valid under the client's schema");
});

t.test('structured outputs: a grammar holds the answer to response_format, strict ones are checked', async (t) => {
  const mood = {
    type: 'object',
    properties: { mood: { enum: ['happy', 'sad'] } },
    required: ['mood'],
    additionalProperties: false,
  };
  const ask = { messages: [{ role: 'user', content: 'How is the cat?' }], max_tokens: 48 };
  const res = await post({
    ...ask,
    response_format: { type: 'json_schema', json_schema: { name: 'mood', schema: mood, strict: true } },
  });
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.equal(body.choices[0].finish_reason, 'stop');
  t.match(JSON.parse(body.choices[0].message.content), { mood: /^(happy|sad)$/ }, 'the story model wrote the JSON');

  const object = await post({ ...ask, response_format: { type: 'json_object' } });
  t.equal(object.status, 200);
  const objectBody: any = await object.json();
  const text: string = objectBody.choices[0].message.content;
  t.match(text.trimStart(), /^\{/, 'a JSON object (or its start, when max_tokens cut it)');

  // A rule the grammar cannot hold: checked when strict, as OpenAI promises; a guide when not.
  const digits = { type: 'object', properties: { a: { type: 'string', pattern: '^[0-9]{40}$' } }, required: ['a'] };
  const strict = await post({
    ...ask,
    response_format: { type: 'json_schema', json_schema: { name: 'digits', schema: digits, strict: true } },
  });
  t.equal(strict.status, 400);
  t.match(await strict.json(), {
    error: { param: 'response_format', message: /breaks the response_format schema \(a must match pattern/ },
  });
  // A backtracking pattern on a string the grammar makes the model write: checked in linear time (RE2),
  // where JavaScript's RegExp held the worker for minutes.
  const evil = {
    type: 'object',
    properties: { k: { type: 'string', const: `${'a'.repeat(32)}!`, pattern: '^(a|a)*$' } },
    required: ['k'],
    additionalProperties: false,
  };
  const redos = await post({
    ...ask,
    max_tokens: 100,
    response_format: { type: 'json_schema', json_schema: { name: 'evil', schema: evil, strict: true } },
  });
  t.equal(redos.status, 400);
  t.match(await redos.json(), { error: { param: 'response_format', message: /k must match pattern/ } });
  const loose = await post({
    ...ask,
    response_format: { type: 'json_schema', json_schema: { name: 'digits', schema: digits } },
  });
  t.equal(loose.status, 200);

  // One grammar per answer: not beside tools the model may call, nor beside a forced call.
  const tools = [{ type: 'function', function: { name: 'get_time', parameters: { type: 'object' } } }];
  for (const tool_choice of ['auto', 'required']) {
    const both = await post({ ...ask, tools, tool_choice, response_format: { type: 'json_object' } });
    t.equal(both.status, 400, tool_choice);
    t.match(await both.json(), { error: { code: 'invalid_request', param: 'response_format' } });
  }
  const unwritable = await post({
    ...ask,
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', required: ['b'] } } },
  });
  t.equal(unwritable.status, 400);
  t.match(await unwritable.json(), {
    error: { param: 'response_format', message: /response_format's schema: the required property "b"/ },
  });
});

t.test('tool_choice "auto": the model is told of the tools and may answer in text, also after results', async (t) => {
  // The functions' documentation takes ~450 of this tokenizer's tokens: more room than the main stack's.
  const roomy = await startStack({ env: { ...LLAMA_ENV, LLAMA_CPP_CONTEXT_SIZE: '2048', LLAMA_CPP_MAX_TOKENS: '8' } });
  t.teardown(() => roomy.close());
  const weather = {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather of a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  };
  const ask = [{ role: 'user', content: 'Weather in Paris?' }];
  const plain: any = await (await postTo(roomy.baseUrl, { messages: ask })).json();
  const res = await postTo(roomy.baseUrl, { messages: ask, tools: [weather] });
  t.equal(res.status, 200, 'no tool_choice with tools is "auto", as on OpenAI');
  const body: any = await res.json();
  // The story model never writes a call; that the prompt grew shows the tools reached it.
  t.ok(body.usage.prompt_tokens > plain.usage.prompt_tokens + 100, 'the functions were documented to the model');
  t.type(body.choices[0].message.content, 'string');
  t.ok(['stop', 'length'].includes(body.choices[0].finish_reason));

  // The Responses tool loop's second step: the call, its output and the tools again.
  const step = await fetch(`${roomy.baseUrl}/v1/responses`, {
    method: 'POST',
    headers: { ...AUTH, 'cache-control': 'no-cache' },
    body: JSON.stringify({
      model: 'documentation',
      tools: [{ type: 'function', name: 'get_weather', parameters: weather.function.parameters }],
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '{"sky":"sunny"}' },
      ],
    }),
  });
  t.equal(step.status, 200);
  t.match(await step.json(), { object: 'response', status: /^(completed|incomplete)$/ });

  // zod 4's .int() bounds, .email(), .positive(): rules the check holds afterwards, not refusals.
  const zodLike = {
    type: 'function',
    function: {
      name: 'plan',
      parameters: {
        type: 'object',
        properties: {
          days: { type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 },
          mail: { type: 'string', format: 'email' },
          budget: { type: 'number', exclusiveMinimum: 0 },
        },
        required: ['days', 'mail', 'budget'],
        additionalProperties: false,
      },
    },
  };
  const zod = await postTo(roomy.baseUrl, { messages: ask, tools: [weather, zodLike] });
  t.equal(zod.status, 200, 'answered under "auto"');
  // A schema the grammar could never write is refused by the function's name.
  const unwritable = await postTo(roomy.baseUrl, {
    messages: ask,
    tools: [
      weather,
      { type: 'function', function: { name: 'f', parameters: { properties: { a: { type: 'float' } } } } },
    ],
  });
  t.equal(unwritable.status, 400);
  t.match(await unwritable.json(), { error: { param: 'tools', message: /^Function "f": .*the type "float"/ } });
});

t.test('a conversation longer than the context goes on: its oldest stored turns make room', async (t) => {
  const story = 'once upon a time there was a little girl who liked the sun. '.repeat(3);
  let session: string | undefined;
  const prompts: number[] = [];
  for (let turn = 0; turn < 6; turn++) {
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...AUTH, 'cache-control': 'no-cache', ...(session ? { 'x-session-id': session } : {}) },
      body: JSON.stringify({ model: 'documentation', max_tokens: 16, messages: [{ role: 'user', content: story }] }),
    });
    const body = await res.json();
    t.equal(res.status, 200, `turn ${turn + 1}: ${JSON.stringify(body.error ?? '')}`);
    session ??= body.conversation_id;
    prompts.push(body.usage.prompt_tokens);
  }
  t.ok(prompts[1]! > prompts[0]!, `history grew the prompt at first (${prompts.join(', ')} tokens)`);
  t.ok(Math.max(...prompts) + 16 <= 512, 'every prompt left room for the answer in the 512-token context');
  const stored = await stack.db.selectFrom('turns').select('id').where('session_id', '=', session!).execute();
  t.equal(stored.length, 6, 'memory keeps every turn: only the prompt left the oldest out');
});

t.test("a client's requests too long for the context, or a schema nothing meets: 400s that shut nothing", async (t) => {
  // More of them than BREAKER_FAILURES (3): as backend failures, they would open the model's circuit
  // for every key, and each would have been retried.
  const long = Array.from({ length: 400 }, (_, i) => ({ role: 'user', content: `tell me a story number ${i}` }));
  for (let i = 0; i < 4; i++) {
    const res = await post({ messages: long, max_tokens: 3 });
    t.equal(res.status, 400, `too long ${i + 1}`);
    t.match(await res.json(), {
      error: { code: 'context_length_exceeded', param: 'messages', message: /stories260K.* holds 512 tokens/ },
    });
  }
  // One message over the context: node-llama-cpp would cut it down and answer what was left.
  const one = await post({ messages: [{ role: 'user', content: 'word '.repeat(600) }], max_tokens: 3 });
  t.equal(one.status, 400, 'never shortened in silence');
  t.match(await one.json(), { error: { code: 'context_length_exceeded', message: /takes \d+ tokens/ } });
  const huge = await post({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 1_000_000 });
  t.equal(huge.status, 400, 'a max_tokens the context cannot hold');
  t.match(await huge.json(), { error: { code: 'context_length_exceeded', message: /in the completion/ } });
  const unmatchable = {
    type: 'function',
    function: { name: 'f', parameters: { type: 'object', properties: { a: { enum: [] } } } },
  };
  for (let i = 0; i < 4; i++) {
    const res = await post({
      messages: [{ role: 'user', content: 'hi' }],
      tools: [unmatchable],
      tool_choice: 'required',
      max_tokens: 8,
    });
    t.equal(res.status, 400, `a schema nothing satisfies ${i + 1}`);
    t.match(await res.json(), { error: { code: 'invalid_request', param: 'tools', message: /enum/ } });
  }
  // A forced call cut by max_tokens is OpenAI's answer: 200, "length", the arguments as far as written.
  const weather = {
    type: 'function',
    function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  };
  const cut = await post({
    messages: [{ role: 'user', content: 'Weather?' }],
    tools: [weather],
    tool_choice: 'required',
    max_tokens: 2,
  });
  t.equal(cut.status, 200, 'cut');
  const answer = (await cut.json()) as {
    choices: Array<{ finish_reason: string; message: { tool_calls: Array<{ function: { arguments: string } }> } }>;
  };
  t.equal(answer.choices[0]!.finish_reason, 'length');
  t.match(answer.choices[0]!.message.tool_calls, [{ function: { name: 'get_weather', arguments: /^\{/ } }]);
  t.throws(() => JSON.parse(answer.choices[0]!.message.tool_calls[0]!.function.arguments), 'partial arguments');
  const fine = await post({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
  t.equal(fine.status, 200, 'the model still answers everyone');
});

t.test('a queued burst of prompts far over the context: each a 400, the worker never falls silent', async (t) => {
  // Each prompt's tokens are counted in one synchronous call (~0.15 s for these 300 KB here). A model
  // call ending hands its slot to the next through a promise: without a turn of the event loop before
  // each count, the whole queue was counted in one microtask run (~4 s here), no heartbeat went out,
  // and the gateway (1 s silence limit) answered 502 worker_lost.
  const burst = await startStack({
    env: {
      ...LLAMA_ENV,
      LLAMA_CPP_CONTEXT_SIZE: '2048',
      HEARTBEAT_MS: '50',
      MAX_INFLIGHT: '1',
      MAX_QUEUED: '30',
      QUEUE_TIMEOUT_MS: '60000',
    },
  });
  t.teardown(() => burst.close());
  const admission = async () => {
    for await (const stats of await burst.bus.services().client().stats('agentbus-worker')) {
      const endpoint = (stats.endpoints ?? []).find((e) => e.name === 'documentation');
      if (endpoint) return (endpoint.data as { admission: { queued: number } }).admission;
    }
    throw new Error('no worker answered $SRV.STATS');
  };
  // A generation holds the worker's one model call while the burst queues behind it.
  const leave = new AbortController();
  const busy = await postTo(
    burst.baseUrl,
    { stream: true, max_tokens: 1500, messages: [{ role: 'user', content: 'A very long story, please.' }] },
    leave.signal,
  );
  const reader = busy.body!.getReader();
  await reader.read();
  // 300 KB in three messages (MAX_MESSAGE_CHARS is 200,000): ~103,000 tokens.
  const content = 'once upon a time there was a little girl who liked the sun. '.repeat(1640);
  const messages = Array.from({ length: 3 }, () => ({ role: 'user', content }));
  const answers = Array.from({ length: 30 }, async () => {
    const res = await postTo(burst.baseUrl, { max_tokens: 3, messages });
    return { status: res.status, error: (await res.json()).error };
  });
  t.ok(await waitUntil(async () => (await admission()).queued === answers.length, 30_000), 'the burst is queued');
  leave.abort();
  const refused = await Promise.all(answers);
  const statuses = refused.map((a) => `${a.status} ${a.error?.code}`);
  t.same([...new Set(statuses)], ['400 context_length_exceeded'], statuses.join(', '));
  // The exact count, on the first attempt: a retry would name the attempt lost before it.
  t.same(
    [...new Set(refused.map((a) => a.error?.message))],
    [
      'The conversation takes 103491 tokens, and the context of stories260K.gguf holds 2048 tokens ' +
        '(LLAMA_CPP_CONTEXT_SIZE): send fewer or shorter messages, or start a new conversation.',
    ],
  );
  const lost = burst.logs.lines.filter((l) => l['code'] === 'worker_lost').map((l) => l['msg']);
  t.same(lost, [], 'no request was presumed lost');
});

t.test('without a model file the provider says which setting to fix', async (t) => {
  const unset = createLlamaCppProvider({
    modelPath: undefined,
    threads: 1,
    parallel: 1,
    contextSize: 512,
    maxTokens: 8,
  });
  t.match(await unset.probe([]), { reachable: false, error: /LLAMA_CPP_MODEL_PATH/ });
  const missing = createLlamaCppProvider({
    modelPath: '/nonexistent/model.gguf',
    threads: 1,
    parallel: 1,
    contextSize: 512,
    maxTokens: 8,
  });
  t.match(await missing.probe([]), { reachable: false, error: /No GGUF model file at \/nonexistent\/model.gguf/ });
});

t.test('a repeated prompt counts its whole prompt again; the answer names the GGUF file', async (t) => {
  const ask = async () => {
    const res = await post({ max_tokens: 4, messages: [{ role: 'user', content: 'Tell me about a dog.' }] });
    t.equal(res.status, 200);
    return res.json();
  };
  const first = await ask();
  // The same prompt again: the engine reuses what it evaluated, the count must not shrink.
  const second = await ask();
  t.ok(first.usage.prompt_tokens > 0, `${first.usage.prompt_tokens} prompt tokens`);
  t.equal(second.usage.prompt_tokens, first.usage.prompt_tokens, 'the same prompt, the same count');
  t.equal(second.usage.total_tokens, second.usage.prompt_tokens + second.usage.completion_tokens);
  t.equal(first.meta.model, basename(MODEL), 'meta.model is the GGUF that answered, not DEFAULT_MODEL');
  const row = (await turns()).find((r) => r.request_id === second.id);
  t.equal(row?.model, basename(MODEL), 'the stored turn names it too');
  t.equal(row?.prompt_tokens, first.usage.prompt_tokens);
  const line = await traceLine(join(stack.dataDir, 'logs'), 'documentation', second.id);
  t.equal(line['model'], basename(MODEL), 'and the trace line');
});

t.test('stop sequences: cut before the first; a start of one that never completes is kept', async (t) => {
  const ask = async (extra: Record<string, unknown>) => {
    const res = await post({ temperature: 0, max_tokens: 6, messages: [{ role: 'user', content: 'hi' }], ...extra });
    const body = await res.json();
    return { text: body.choices[0].message.content as string, finish: body.choices[0].finish_reason as string };
  };
  const whole = await ask({});
  t.equal(whole.finish, 'length');
  t.ok(whole.text.length >= 4, `the greedy answer: ${JSON.stringify(whole.text)}`);
  const neverEnds = `${whole.text.slice(-2)}\u0000`;
  t.same(await ask({ stop: [neverEnds] }), whole, 'a length cut returns the text a stop might have begun');
  const streamed = await post({
    stream: true,
    temperature: 0,
    max_tokens: 6,
    stop: [neverEnds],
    messages: [{ role: 'user', content: 'hi' }],
  });
  const pieces = sseJson(parseSse(await streamed.text()).events).map((c) => c.choices[0]?.delta.content ?? '');
  t.equal(pieces.join(''), whole.text, 'streamed too');
  const middle = whole.text.slice(2, 4);
  t.same(await ask({ stop: [middle] }), { text: whole.text.slice(0, whole.text.indexOf(middle)), finish: 'stop' });
});

t.test('a request without max_tokens stops at LLAMA_CPP_MAX_TOKENS with finish_reason "length"', async (t) => {
  const res = await post({ messages: [{ role: 'user', content: 'A story that never ends.' }] });
  t.equal(res.status, 200);
  const body = await res.json();
  t.equal(body.choices[0].finish_reason, 'length');
  t.equal(body.usage.completion_tokens, DEFAULT_CAP, 'the default cap, not the request deadline');
  // The request's own max_tokens still wins over the default.
  const own = await (await post({ max_tokens: 12, messages: [{ role: 'user', content: 'Hi' }] })).json();
  t.equal(own.usage.completion_tokens, 12);
});

t.test('when a model that never stops hits the deadline, the 504 says to send max_tokens', async (t) => {
  const slow = await startStack({
    // The model's whole context (2,048 tokens, ~14 s of writing here): the cap shrinks to the room left.
    env: { ...LLAMA_ENV, LLAMA_CPP_CONTEXT_SIZE: '2048', LLAMA_CPP_MAX_TOKENS: '1000000', REQUEST_TIMEOUT_MS: '1500' },
  });
  t.teardown(() => slow.close());
  const res = await postTo(slow.baseUrl, { messages: [{ role: 'user', content: 'A story that never ends.' }] });
  t.equal(res.status, 504);
  const { error } = await res.json();
  t.equal(error.code, 'deadline_exceeded');
  t.match(error.message, /REQUEST_TIMEOUT_MS/);
  t.match(error.message, /send max_tokens or lower LLAMA_CPP_MAX_TOKENS \(now 1000000\)/);

  // A deadline that falls while the prompt is still being read (~1,800 tokens, seconds on a slow
  // CPU): the worker's own answer, not the gateway's after its grace. node-llama-cpp frees the
  // sequence only once it has read the prompt (docs: a stop mid-evaluation).
  const reading = await fetch(`${slow.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, 'cache-control': 'no-cache', 'x-request-timeout-ms': '100' },
    body: JSON.stringify({
      model: 'documentation',
      max_tokens: 8,
      messages: [{ role: 'user', content: `${Date.now()} ${'word '.repeat(540)}` }],
    }),
  });
  t.equal(reading.status, 504);
  t.match((await reading.json()).error, { code: 'deadline_exceeded', message: /the worker abandoned it/ });
});
