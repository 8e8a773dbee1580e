import OpenAI, { APIError } from 'openai';
import t from 'tap';
import { startStack } from '../helpers/stack.js';

// The official openai package drives the Responses API: its parsers, stream accumulator and
// helpers (output_text, finalResponse) must accept what agentbus sends.
const stack = await startStack();
t.teardown(() => stack.close());
/** The APIError a call rejects with. */
const failure = (call: Promise<unknown>) =>
  call.then(
    () => undefined,
    (err: unknown) => (err instanceof APIError ? err : undefined),
  );
const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });

t.test('responses.create, then a follow-up by previous_response_id', async (t) => {
  stack.ollama.behave({ tokens: ['Paris', '.'] });
  const first = await client.responses.create({
    model: 'documentation',
    instructions: 'Answer in one word.',
    input: 'Capital of France?',
  });
  t.equal(first.object, 'response');
  t.equal(first.status, 'completed');
  t.equal(first.output_text, 'Paris.');
  t.match(first.usage, { input_tokens: 12, output_tokens: 2, total_tokens: 14 });

  stack.ollama.behave({ tokens: ['About', ' 2M'] });
  const second = await client.responses.create({
    model: 'documentation',
    input: [{ role: 'user', content: [{ type: 'input_text', text: 'Population?' }] }],
    previous_response_id: first.id,
  });
  t.equal(second.output_text, 'About 2M');
  t.same(stack.ollama.requests.at(-1)!.messages.slice(-3), [
    { role: 'user', content: 'Capital of France?' },
    { role: 'assistant', content: 'Paris.' },
    { role: 'user', content: 'Population?' },
  ]);

  const retrieved = await client.responses.retrieve(second.id);
  t.equal(retrieved.output_text, 'About 2M');
  // The conversation a response names continues it, as with OpenAI's conversations.
  t.ok(second.conversation?.id, 'each response names its conversation');
  stack.ollama.behave({ tokens: ['Yes'] });
  const third = await client.responses.create({
    model: 'documentation',
    input: 'Big?',
    conversation: second.conversation!.id,
  });
  t.equal(third.conversation?.id, second.conversation?.id);
  t.same(stack.ollama.requests.at(-1)!.messages.at(-2), { role: 'assistant', content: 'About 2M' });
  const items = await client.responses.inputItems.list(second.id);
  t.match(items.data, [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Population?' }] }]);
  await client.responses.delete(second.id);
  t.equal((await failure(client.responses.retrieve(second.id)))?.status, 404, 'gone once deleted');
});

t.test('responses.stream: text deltas and the final response', async (t) => {
  stack.ollama.behave({ tokens: ['a', 'b', 'c'] });
  const stream = client.responses.stream({ model: 'documentation', input: 'abc' });
  const deltas: string[] = [];
  stream.on('response.output_text.delta', (event) => deltas.push(event.delta));
  const final = await stream.finalResponse();
  t.same(deltas, ['a', 'b', 'c']);
  t.equal(final.status, 'completed');
  t.equal(final.output_text, 'abc');
  t.match(final.usage, { output_tokens: 3 });
});

t.test('a function tool round trip through the SDK, streamed', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  const tools = [
    {
      type: 'function' as const,
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      strict: false,
    },
  ];
  const stream = client.responses.stream({ model: 'documentation', input: 'Weather in Oslo?', tools });
  const argumentDeltas: string[] = [];
  stream.on('response.function_call_arguments.delta', (event) => argumentDeltas.push(event.delta));
  const first = await stream.finalResponse();
  const call = first.output.find((item) => item.type === 'function_call');
  t.ok(call, 'a function_call item');
  if (call?.type !== 'function_call') return;
  t.equal(call.name, 'get_weather');
  t.same(JSON.parse(call.arguments), { city: 'Oslo' });
  t.equal(argumentDeltas.join(''), call.arguments);

  stack.ollama.behave({ tokens: ['Sunny'] });
  const second = await client.responses.create({
    model: 'documentation',
    previous_response_id: first.id,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"sky":"clear"}' }],
    tools,
  });
  t.equal(second.output_text, 'Sunny');
});

t.test('errors reach the SDK as APIError with the param', async (t) => {
  const refused = await failure(client.responses.create({ model: 'documentation', input: 'x', background: true }));
  t.match(refused, { status: 400, param: 'background' });
  const unknown = await failure(
    client.responses.create({ model: 'documentation', input: 'x', previous_response_id: 'resp_nope' }),
  );
  t.match(unknown, { status: 404, code: 'response_not_found', param: 'previous_response_id' });
});
