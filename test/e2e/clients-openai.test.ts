import { fileURLToPath } from 'node:url';
import Instructor from '@instructor-ai/instructor';
import {
  Agent,
  OpenAIChatCompletionsModel,
  run,
  setDefaultOpenAIClient,
  setTracingDisabled,
  tool,
} from '@openai/agents';
import OpenAI from 'openai';
import t from 'tap';
import { z } from 'zod';
import { z as z3 } from 'zod/v3';
import { fakeEmbedding } from '../helpers/fake-ollama.js';
import { startStack } from '../helpers/stack.js';

// OpenAI's own clients and those built on the `openai` package: the SDK's embeddings and legacy
// completions, instructor-js in its default (TOOLS) mode, and the OpenAI Agents SDK, each
// against the real stack, asserting what the client returned.
const stack = await startStack({
  ollamaModels: ['llama3.2:latest', 'nomic-embed-text:latest'],
  env: { AGENTS_FILE: fileURLToPath(new URL('./fixtures/embedding-agents.json', import.meta.url)) },
});
t.teardown(() => stack.close());
const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });
// The Agents SDK would export traces to api.openai.com otherwise.
setTracingDisabled(true);
const close = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((value, i) => Math.abs(value - b[i]!) < 1e-6);

t.test('openai embeddings.create: the vectors, float and the SDK default base64', async (t) => {
  const floats = await client.embeddings.create({ model: 'nomic', input: ['hello world'], encoding_format: 'float' });
  t.ok(close(floats.data[0]!.embedding, fakeEmbedding('hello world')));
  const decoded = await client.embeddings.create({ model: 'nomic', input: 'bye' });
  t.ok(close(decoded.data[0]!.embedding, fakeEmbedding('bye')));
  t.equal(decoded.data[0]!.embedding.length, 4);
});

t.test('openai completions.create: the text, and streamed', async (t) => {
  stack.ollama.behave({ tokens: ['Once', ' upon'] });
  const completion = await client.completions.create({ model: 'testing', prompt: 'Tell a story', max_tokens: 20 });
  t.equal(completion.object, 'text_completion');
  t.equal(completion.choices[0]!.text, 'Once upon');
  t.equal(completion.choices[0]!.finish_reason, 'stop');

  stack.ollama.behave({ tokens: ['a', 'time'] });
  const stream = await client.completions.create({ model: 'testing', prompt: 'Go on', stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  t.equal(text, 'atime');
});

t.test('openai responses.create and .stream with previous_response_id', async (t) => {
  stack.ollama.behave({ tokens: ['Hello', ' Responses'] });
  const first = await client.responses.create({ model: 'testing', input: 'hi' });
  t.equal(first.output_text, 'Hello Responses');
  stack.ollama.behave({ tokens: ['Again'] });
  const second = await client.responses
    .stream({ model: 'testing', input: 'again', previous_response_id: first.id })
    .finalResponse();
  t.equal(second.output_text, 'Again');
  const sent = stack.ollama.requests.at(-1)!.messages;
  t.match(sent.at(-2), { role: 'assistant', content: 'Hello Responses' }, 'the first answer was replayed');
  // Sent without a body; refused as OpenAI refuses a response that was not created in the background.
  await t.rejects(client.responses.cancel(first.id), { status: 400, code: 'invalid_request', param: 'response_id' });
});

t.test('openai responses: a function call round trip through previous_response_id', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Bern' } }] });
  const tools = [
    {
      type: 'function' as const,
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      strict: false,
    },
  ];
  const first = await client.responses.create({ model: 'testing', input: 'Weather in Bern?', tools });
  const call = first.output.find((item) => item.type === 'function_call');
  t.match(call, { type: 'function_call', name: 'get_weather', call_id: /./ });
  if (call?.type !== 'function_call') throw new Error('expected a function call');
  t.same(JSON.parse(call.arguments), { city: 'Bern' });
  stack.ollama.behave({ tokens: ['Foggy in Bern.'] });
  const second = await client.responses.create({
    model: 'testing',
    previous_response_id: first.id,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: 'foggy' }],
    tools,
  });
  t.equal(second.output_text, 'Foggy in Bern.');
  t.match(
    stack.ollama.requests.at(-1)!.messages.slice(-2),
    [
      { role: 'assistant', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Bern' } } }] },
      { role: 'tool', content: 'foggy' },
    ],
    'the stored call is replayed before the output',
  );
});

t.test('instructor-js TOOLS mode: a forced named tool call parsed into the schema', async (t) => {
  stack.ollama.behave({ tokens: ['{"name":"Ada",', '"age":36}'] });
  // instructor's zod-to-json-schema reads zod 3 schemas: zod 4's v3 API.
  const Person = z3.object({ name: z3.string(), age: z3.number() });
  const instructor = Instructor({ client, mode: 'TOOLS' });
  const person = await instructor.chat.completions.create({
    model: 'testing',
    messages: [{ role: 'user', content: 'Ada Lovelace at 36' }],
    response_model: { schema: Person, name: 'Person' },
    max_retries: 0,
  });
  // (Its types infer from zod 4's schemas, so the zod 3 result is checked as a plain object.)
  t.match(person, { name: 'Ada', age: 36 });
  const sent = stack.ollama.requests.at(-1)!;
  t.match(sent.format, { type: 'object', properties: { name: { type: 'string' }, age: { type: 'number' } } });
});

t.test('instructor-js TOOLS mode, streamed: the partial objects end in the whole one', async (t) => {
  stack.ollama.behave({ tokens: ['{"name":', '"Grace",', '"age":85}'] });
  const Person = z3.object({ name: z3.string(), age: z3.number() });
  const instructor = Instructor({ client, mode: 'TOOLS' });
  const stream = await instructor.chat.completions.create({
    model: 'testing',
    messages: [{ role: 'user', content: 'Grace Hopper' }],
    response_model: { schema: Person, name: 'Person' },
    stream: true,
  });
  let last: unknown;
  for await (const partial of stream) last = partial;
  t.match(last, { name: 'Grace', age: 85 });
});

const weatherCalls: string[] = [];
const getWeather = tool({
  name: 'get_weather',
  description: 'Current weather in a city',
  parameters: z.object({ city: z.string() }),
  execute: ({ city }) => {
    weatherCalls.push(city);
    return `sunny in ${city}`;
  },
});
// The bodies the Agents SDK sends, to see what it replays.
const agentBodies: Array<Record<string, any>> = [];
const agentClient = new OpenAI({
  baseURL: `${stack.baseUrl}/v1`,
  apiKey: 'local-only',
  maxRetries: 0,
  fetch: (url: string | URL | Request, init?: RequestInit) => {
    if (typeof init?.body === 'string') agentBodies.push(JSON.parse(init.body) as Record<string, any>);
    return fetch(url, init);
  },
});
const chatModel = new OpenAIChatCompletionsModel(agentClient, 'testing');

t.test('@openai/agents chat-completions model: a tool with toolChoice required', async (t) => {
  stack.ollama.behaveInTurn([{ tokens: ['{"city":"Paris"}'] }, { tokens: ['Sunny in Paris.'] }]);
  const agent = new Agent({
    name: 'weather',
    instructions: 'Answer with the weather.',
    model: chatModel,
    tools: [getWeather],
    modelSettings: { toolChoice: 'required' },
  });
  const result = await run(agent, 'Weather in Paris?');
  t.equal(result.finalOutput, 'Sunny in Paris.');
  t.same(weatherCalls, ['Paris'], 'the SDK ran the tool with the forced call');
  const [forced, followUp] = stack.ollama.requests.slice(-2);
  t.match(forced!.format, { type: 'object', properties: { city: { type: 'string' } } }, 'the call was forced');
  t.match(followUp!.messages.at(-1), { role: 'tool', content: 'sunny in Paris' }, 'the tool result reached the model');
});

t.test('@openai/agents chat-completions model: a streamed run', async (t) => {
  stack.ollama.behave({ tokens: ['Stream', 'ed ', 'run'] });
  const agent = new Agent({ name: 'chat', instructions: 'Be brief.', model: chatModel });
  const result = await run(agent, 'hi', { stream: true });
  let text = '';
  for await (const piece of result.toTextStream()) text += piece;
  await result.completed;
  t.equal(text, 'Streamed run');
  t.equal(result.finalOutput, 'Streamed run');
});

t.test('@openai/agents chat-completions model: outputType, a structured final output', async (t) => {
  stack.ollama.behave({ tokens: ['{"city":"Oslo",', '"sky":"snow"}'] });
  const agent = new Agent({
    name: 'forecast',
    instructions: 'Give the forecast.',
    model: chatModel,
    outputType: z.object({ city: z.string(), sky: z.string() }),
  });
  const result = await run(agent, 'Forecast for Oslo?');
  t.same(result.finalOutput, { city: 'Oslo', sky: 'snow' });
  t.match(stack.ollama.requests.at(-1)!.format, { type: 'object', properties: { city: { type: 'string' } } });
});

t.test('@openai/agents chat-completions model: a cut stream fails the run', async (t) => {
  stack.ollama.behave({ tokens: ['partial', ' answer', ' never', ' finished'], dieAfterTokens: 2, tokenDelayMs: 20 });
  const agent = new Agent({ name: 'chat', instructions: 'Be brief.', model: chatModel });
  await t.rejects(async () => {
    const result = await run(agent, 'hi', { stream: true });
    for await (const piece of result.toTextStream()) void piece;
    await result.completed;
  }, 'the run rejects instead of returning the partial answer');
});

t.test('@openai/agents chat-completions model: a second turn replaying history (refusal: null)', async (t) => {
  const agent = new Agent({ name: 'chat', instructions: 'Be brief.', model: chatModel });
  stack.ollama.behave({ tokens: ['First', ' answer'] });
  const first = await run(agent, 'hi');
  t.equal(first.finalOutput, 'First answer');
  stack.ollama.behave({ tokens: ['Second', ' answer'] });
  const second = await run(agent, [...first.history, { role: 'user', content: 'and again' }]);
  t.equal(second.finalOutput, 'Second answer');
  const replayed = agentBodies.at(-1)!['messages'].find((m: { role: string }) => m.role === 'assistant');
  t.match(
    replayed,
    { content: [{ type: 'text', text: 'First answer', refusal: null }] },
    'the SDK replays its answer with refusal: null in the part, and agentbus takes it',
  );
  const sent = stack.ollama.requests.at(-1)!.messages;
  t.match(
    sent.slice(-3),
    [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'First answer' },
      { role: 'user', content: 'and again' },
    ],
    'the replayed history reached the model',
  );
});

t.test('@openai/agents default model (Responses API): a streamed run', async (t) => {
  setDefaultOpenAIClient(agentClient);
  stack.ollama.behave({ tokens: ['Stream', 'ed ', 'response'] });
  const result = await run(new Agent({ name: 'chat', instructions: 'Be brief.', model: 'testing' }), 'hi', {
    stream: true,
  });
  let text = '';
  for await (const piece of result.toTextStream()) text += piece;
  await result.completed;
  t.equal(text, 'Streamed response');
  t.equal(result.finalOutput, 'Streamed response');
});

t.test('@openai/agents default model (Responses API): a tool, toolChoice required, and history', async (t) => {
  setDefaultOpenAIClient(agentClient);
  const agent = new Agent({
    name: 'weather',
    instructions: 'Answer with the weather.',
    model: 'testing',
    tools: [getWeather],
    modelSettings: { toolChoice: 'required' },
  });
  weatherCalls.length = 0;
  stack.ollama.behaveInTurn([{ tokens: ['{"city":"Lima"}'] }, { tokens: ['Sunny in Lima.'] }]);
  const first = await run(agent, 'Weather in Lima?');
  t.equal(first.finalOutput, 'Sunny in Lima.');
  t.same(weatherCalls, ['Lima']);
  t.match(stack.ollama.requests.at(-1)!.messages.at(-1), { role: 'tool', content: 'sunny in Lima' });
  stack.ollama.behave({ tokens: ['Still sunny.'] });
  const plain = new Agent({ name: 'chat', instructions: 'Be brief.', model: 'testing' });
  const second = await run(plain, [...first.history, { role: 'user', content: 'And now?' }]);
  t.equal(second.finalOutput, 'Still sunny.');
  t.match(
    stack.ollama.requests.at(-1)!.messages.slice(-2),
    [
      { role: 'assistant', content: 'Sunny in Lima.' },
      { role: 'user', content: 'And now?' },
    ],
    'the replayed history reached the model',
  );
});

t.test('@openai/agents Responses model: a run continues by previousResponseId or by conversationId', async (t) => {
  setDefaultOpenAIClient(agentClient);
  const agent = new Agent({ name: 'chat', instructions: 'Be brief.', model: 'testing' });
  stack.ollama.behave({ tokens: ['Paris.'] });
  const first = await run(agent, 'Capital of France?');
  stack.ollama.behave({ tokens: ['2M.'] });
  const second = await run(agent, 'Population?', { previousResponseId: first.lastResponseId! });
  t.equal(second.finalOutput, '2M.');
  const conversation = (await agentClient.responses.retrieve(second.lastResponseId!)).conversation?.id;
  t.ok(conversation, 'the stored response names its conversation');
  stack.ollama.behave({ tokens: ['Yes.'] });
  const third = await run(agent, 'Big?', { conversationId: conversation! });
  t.equal(third.finalOutput, 'Yes.');
  t.match(agentBodies.at(-1), { conversation }, 'the SDK sent conversation');
  t.notOk('previous_response_id' in agentBodies.at(-1)!, 'and no previous_response_id beside it');
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(-5)
      .map((m) => m.content),
    ['Capital of France?', 'Paris.', 'Population?', '2M.', 'Big?'],
    "the conversation's turns reached the model",
  );
});
