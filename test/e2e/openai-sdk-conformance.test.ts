import OpenAI, { type APIError } from 'openai';
import t from 'tap';
import { startStack } from '../helpers/stack.js';

// The official openai package is the client: if its parsers and helpers accept what agentbus
// sends, so will every application written against OpenAI.
const stack = await startStack();
t.teardown(() => stack.close());
const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

t.test('create(), non-streaming: a typed ChatCompletion', async (t) => {
  stack.ollama.behave({ tokens: ['Hello', ' SDK'] });
  const completion = await client.chat.completions.create({
    model: 'testing',
    messages: [{ role: 'user', content: 'hi' }],
    max_completion_tokens: 50,
    seed: 7,
    stop: 'END',
    user: 'u-1',
    metadata: { team: 'qa' },
  });
  t.equal(completion.object, 'chat.completion');
  t.equal(completion.choices[0]!.message.content, 'Hello SDK');
  t.equal(completion.choices[0]!.finish_reason, 'stop');
  t.same(completion.usage, { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 });
  t.match(
    stack.ollama.requests.at(-1)!.options,
    { num_predict: 50, seed: 7, stop: ['END'] },
    'parameters reach Ollama through its parameter table',
  );
  const row = await stack.db
    .selectFrom('turns')
    .select(['end_user', 'metadata'])
    .where('request_id', '=', completion.id)
    .executeTakeFirstOrThrow();
  t.same(row, { end_user: 'u-1', metadata: '{"team":"qa"}' }, 'user and metadata are kept with the turn');
});

t.test('create(), streaming: chunks, then the usage chunk when asked', async (t) => {
  stack.ollama.behave({ tokens: ['a', 'b', 'c'] });
  const stream = await client.chat.completions.create({
    model: 'testing',
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'abc' }],
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  t.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'abc');
  t.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'stop');
  t.same(chunks.at(-1)!.choices, [], 'the last chunk has empty choices');
  t.same(chunks.at(-1)!.usage, { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 });
  t.ok(
    chunks.slice(0, -1).every((c) => c.usage === null),
    'every other chunk carries usage: null',
  );
});

t.test(
  '.stream() helper: finalChatCompletion() accepts the stream (strict about role and finish_reason)',
  async (t) => {
    stack.ollama.behave({ tokens: ['x', 'y'], doneReason: 'length' });
    const runner = client.chat.completions.stream({
      model: 'testing',
      messages: [{ role: 'user', content: 'xy' }],
      max_tokens: 2,
    });
    const final = await runner.finalChatCompletion();
    t.equal(final.choices[0]!.message.role, 'assistant');
    t.equal(final.choices[0]!.message.content, 'xy');
    t.equal(final.choices[0]!.finish_reason, 'length', 'finish_reason length as the backend reported it');
  },
);

t.test('.stream() helper with a tool call: the streamed tool-call fragments assemble into a whole call', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Dhaka' } }] });
  const runner = client.chat.completions.stream({
    model: 'testing',
    messages: [{ role: 'user', content: 'weather in Dhaka?' }],
    tools: [weatherTool],
  });
  const final = await runner.finalChatCompletion();
  const choice = final.choices[0]!;
  t.equal(choice.finish_reason, 'tool_calls');
  t.equal(choice.message.tool_calls?.length, 1);
  const call = choice.message.tool_calls![0]!;
  t.match(call, { id: /^call_/, type: 'function' });
  if (call.type !== 'function') throw new Error('expected a function call');
  t.equal(call.function.name, 'get_weather');
  t.same(JSON.parse(call.function.arguments), { city: 'Dhaka' });
  t.same(stack.ollama.requests.at(-1)!.tools, [weatherTool], 'the tools reached Ollama');
});

t.test('create() non-streaming with a tool call: tool_calls in the message, content null', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  const completion = await client.chat.completions.create({
    model: 'testing',
    messages: [{ role: 'user', content: 'weather in Oslo?' }],
    tools: [weatherTool],
    tool_choice: 'auto',
  });
  const message = completion.choices[0]!.message;
  t.equal(completion.choices[0]!.finish_reason, 'tool_calls');
  t.equal(message.content, null);
  t.match(message.tool_calls, [
    { id: /^call_/, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
  ]);
});

t.test('runTools(): a whole tool round trip', async (t) => {
  stack.ollama.behaveInTurn([
    { tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] },
    { tokens: ['It is ', 'sunny in Paris.'] },
  ]);
  const calls: unknown[] = [];
  const runner = client.chat.completions.runTools({
    model: 'testing',
    messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    tools: [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: weatherTool.function.description,
          parameters: weatherTool.function.parameters,
          parse: JSON.parse,
          function: (args: { city: string }) => {
            calls.push(args);
            return { city: args.city, sky: 'sunny' };
          },
        },
      },
    ],
  });
  t.equal(await runner.finalContent(), 'It is sunny in Paris.');
  t.same(calls, [{ city: 'Paris' }], 'the SDK ran the tool with the arguments the model gave');
  const followUp = stack.ollama.requests.at(-1)!;
  const assistant = followUp.messages.find((m) => m.role === 'assistant');
  t.same(
    assistant?.tool_calls,
    [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }],
    'the assistant tool call goes back to Ollama with object arguments',
  );
  const tool = followUp.messages.find((m) => m.role === 'tool');
  t.match(tool, { role: 'tool', tool_name: 'get_weather' }, 'the tool result names its function, as Ollama expects');
  t.same(JSON.parse(tool!.content), { city: 'Paris', sky: 'sunny' });
});

t.test(
  'tool_choice "required" and a named function on Ollama: a real tool call, from constrained output',
  async (t) => {
    const other = { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object' } } };
    stack.ollama.behave({ tokens: ['{"city":', ' "Dhaka"}'] });
    const named = await client.chat.completions.create({
      model: 'testing',
      messages: [{ role: 'user', content: 'weather in Dhaka?' }],
      tools: [weatherTool, other],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      stop: ['Dhaka'],
    });
    t.equal(named.choices[0]!.finish_reason, 'tool_calls');
    t.equal(named.choices[0]!.message.content, null);
    t.match(named.choices[0]!.message.tool_calls, [
      { id: /^call_/, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Dhaka"}' } },
    ]);
    const sent = stack.ollama.requests.at(-1)!;
    t.same(sent.format, weatherTool.function.parameters, "Ollama's output is constrained to the tool's parameters");
    t.notOk(sent.tools, 'no tools: the format forces the call');
    t.notOk(sent.options?.['stop'], 'stop sequences end text, not a forced call (they would cut its JSON)');
    t.match(sent.messages.at(-1), { role: 'system', content: /Call the function get_weather/ });

    // "required" with two tools: the model picks one, as {name, arguments}; streamed as a tool call.
    stack.ollama.behave({ tokens: ['{"name": "get_time", ', '"arguments": {"zone": "UTC"}}'] });
    const stream = client.chat.completions.stream({
      model: 'testing',
      messages: [{ role: 'user', content: 'time?' }],
      tools: [weatherTool, other],
      tool_choice: 'required',
    });
    const completion = await stream.finalChatCompletion();
    t.equal(completion.choices[0]!.finish_reason, 'tool_calls');
    t.match(completion.choices[0]!.message.tool_calls, [
      { function: { name: 'get_time', arguments: '{"zone":"UTC"}' } },
    ]);
    t.match(stack.ollama.requests.at(-1)!.format, { oneOf: [{ properties: { name: { enum: ['get_weather'] } } }, {}] });

    // Output that is not the call (cut short): a clear error, never text passed off as a call.
    stack.ollama.behave({ tokens: ['{"city": "Dh'] });
    const cut = await client.chat.completions
      .create({
        model: 'testing',
        messages: [{ role: 'user', content: 'x' }],
        tools: [weatherTool],
        tool_choice: 'required',
      })
      .catch((e: unknown) => e);
    t.type(cut, OpenAI.APIError);
    t.match((cut as APIError).message, /forced tool call/);
  },
);

t.test('a forced call cut by max_tokens: 200, finish_reason "length", the arguments as far as written', async (t) => {
  stack.ollama.behave({ tokens: ['{"city":', ' "Dh'], doneReason: 'length' });
  const cut = await client.chat.completions.create({
    model: 'testing',
    messages: [{ role: 'user', content: 'weather in Dhaka?' }],
    tools: [weatherTool],
    tool_choice: 'required',
    max_tokens: 2,
  });
  t.equal(cut.choices[0]!.finish_reason, 'length');
  t.match(cut.choices[0]!.message, {
    content: null,
    tool_calls: [{ id: /^call_/, type: 'function', function: { name: 'get_weather', arguments: '{"city": "Dh' } }],
  });
  // The conversation goes on without the cut call: it asks for no result, and Ollama never sees it.
  const conversation = (cut as unknown as { conversation_id: string }).conversation_id;
  const callId = cut.choices[0]!.message.tool_calls![0]!.id;
  const answered = await client.chat.completions
    .create(
      { model: 'testing', messages: [{ role: 'tool', tool_call_id: callId, content: 'sunny' }] },
      { headers: { 'X-Session-ID': conversation } },
    )
    .catch((e: unknown) => e);
  t.type(answered, OpenAI.BadRequestError);
  t.match((answered as APIError).message, /was cut short by max_tokens .* takes no result/);
  stack.ollama.behave({ tokens: ['Sunny.'] });
  const next = await client.chat.completions.create(
    { model: 'testing', messages: [{ role: 'user', content: 'never mind, just guess' }] },
    { headers: { 'X-Session-ID': conversation } },
  );
  t.equal(next.choices[0]!.message.content, 'Sunny.');
  const sent = stack.ollama.requests.at(-1)!.messages;
  t.match(sent.at(-2), { role: 'assistant', content: '' });
  t.notOk(
    sent.some((m) => 'tool_calls' in m),
    'no cut call in the history',
  );

  // The Responses API marks the response and its call incomplete, as OpenAI does.
  stack.ollama.behave({ tokens: ['{"city": "Os'], doneReason: 'length' });
  const response = await client.responses.create({
    model: 'testing',
    input: 'weather in Oslo?',
    tools: [{ type: 'function', name: 'get_weather', parameters: weatherTool.function.parameters, strict: false }],
    tool_choice: 'required',
    max_output_tokens: 16,
  });
  t.equal(response.status, 'incomplete');
  t.same(response.incomplete_details, { reason: 'max_output_tokens' });
  t.match(response.output, [
    { type: 'function_call', status: 'incomplete', name: 'get_weather', arguments: '{"city": "Os' },
  ]);
});

t.test('typed errors: 400, 401, 404 (and no retries of what cannot succeed)', async (t) => {
  const bad = await client.chat.completions
    .create({ model: 'testing', messages: [{ role: 'user', content: 'x' }], n: 3 })
    .catch((e: unknown) => e);
  t.type(bad, OpenAI.BadRequestError);
  t.equal((bad as APIError).param, 'n');
  t.equal((bad as APIError).code, 'invalid_request');

  const wrongKey = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'nope', maxRetries: 0 });
  t.type(
    await wrongKey.chat.completions
      .create({ model: 'testing', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e),
    OpenAI.AuthenticationError,
  );

  const missing = await client.chat.completions
    .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
    .catch((e: unknown) => e);
  t.type(missing, OpenAI.NotFoundError);
  t.equal((missing as APIError).code, 'model_not_found');

  const tooBig = await client.chat.completions
    .create({ model: 'testing', messages: [{ role: 'user', content: 'x'.repeat(1_100_000) }] })
    .catch((e: unknown) => e);
  t.equal((tooBig as APIError).status, 413);
  t.type(tooBig, OpenAI.APIError);
});

t.test('503 with retry-after: the SDK sees a retryable InternalServerError', async (t) => {
  // No worker serves this agent here, so NATS answers "no responders" at once.
  const lane = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });
  await stack.workers[0]!.stop(1000);
  t.teardown(async () => {
    await stack.addWorker();
  });
  const err = await lane.chat.completions
    .create({ model: 'testing', messages: [{ role: 'user', content: 'x' }] })
    .catch((e: unknown) => e);
  t.type(err, OpenAI.InternalServerError);
  t.equal((err as APIError).status, 503);
  t.ok((err as APIError).headers?.get('retry-after'), 'retry-after says when to try again');
});
