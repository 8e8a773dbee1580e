import { fileURLToPath } from 'node:url';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import {
  embed,
  embedMany,
  generateObject,
  generateText,
  Output,
  stepCountIs,
  streamObject,
  streamText,
  tool,
} from 'ai';
import t from 'tap';
import { z } from 'zod';
import { fakeEmbedding } from '../helpers/fake-ollama.js';
import { startStack } from '../helpers/stack.js';

// The Vercel AI SDK (`ai`) against the real stack, with its two OpenAI providers: what the
// client returns (text, tool calls, objects, vectors) is what an application would get.
const stack = await startStack({
  ollamaModels: ['llama3.2:latest', 'nomic-embed-text:latest'],
  env: { AGENTS_FILE: fileURLToPath(new URL('./fixtures/embedding-agents.json', import.meta.url)) },
});
t.teardown(() => stack.close());

const compatible = createOpenAICompatible({
  name: 'agentbus',
  baseURL: `${stack.baseUrl}/v1`,
  apiKey: 'local-only',
  includeUsage: true,
  supportsStructuredOutputs: true,
});
const openai = createOpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only' });
const close = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((value, i) => Math.abs(value - b[i]!) < 1e-6);

const weather = tool({
  description: 'Current weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: ({ city }) => Promise.resolve({ city, sky: 'sunny' }),
});

t.test('openai-compatible generateText: the text, finish reason and usage', async (t) => {
  stack.ollama.behave({ tokens: ['Hello', ' AI SDK'] });
  const result = await generateText({ model: compatible.chatModel('testing'), prompt: 'hi', maxRetries: 0 });
  t.equal(result.text, 'Hello AI SDK');
  t.equal(result.finishReason, 'stop');
  t.match(result.usage, { inputTokens: 12, outputTokens: 2 });
});

t.test('openai-compatible streamText: the streamed text, and no empty text part', async (t) => {
  stack.ollama.behave({ tokens: ['a', 'b', 'c'] });
  const result = streamText({ model: compatible.chatModel('testing'), prompt: 'abc', maxRetries: 0 });
  const parts: string[] = [];
  for await (const part of result.textStream) parts.push(part);
  t.same(parts, ['a', 'b', 'c']);
  t.equal(await result.finishReason, 'stop');
  t.match(await result.usage, { inputTokens: 12, outputTokens: 3 });
});

t.test('openai-compatible tool round trip: the SDK runs the tool and gets the final answer', async (t) => {
  stack.ollama.behaveInTurn([
    { tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] },
    { tokens: ['Sunny in ', 'Paris.'] },
  ]);
  const result = await generateText({
    model: compatible.chatModel('testing'),
    tools: { get_weather: weather },
    stopWhen: stepCountIs(2),
    prompt: 'Weather in Paris?',
    maxRetries: 0,
  });
  t.equal(result.text, 'Sunny in Paris.');
  t.equal(result.steps.length, 2);
  t.match(result.steps[0]!.toolCalls, [{ toolName: 'get_weather', input: { city: 'Paris' } }]);
  t.match(result.steps[0]!.toolResults, [{ toolName: 'get_weather', output: { city: 'Paris', sky: 'sunny' } }]);
  const followUp = stack.ollama.requests.at(-1)!;
  t.same(
    followUp.messages.find((m) => m.role === 'tool')?.content,
    JSON.stringify({ city: 'Paris', sky: 'sunny' }),
    'the tool result reached the model',
  );
});

t.test('openai-compatible streamText with a tool call: the call, and no empty text part', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  const result = streamText({
    model: compatible.chatModel('testing'),
    tools: { get_weather: tool({ description: 'Current weather', inputSchema: z.object({ city: z.string() }) }) },
    prompt: 'Weather in Oslo?',
    maxRetries: 0,
  });
  const types: string[] = [];
  for await (const part of result.fullStream) types.push(part.type);
  t.match(await result.toolCalls, [{ toolName: 'get_weather', input: { city: 'Oslo' } }]);
  t.equal(await result.finishReason, 'tool-calls');
  t.notOk(types.includes('text-delta'), `no text in a tool-call answer (parts: ${types.join(' ')})`);
});

t.test('openai-compatible generateObject: response_format json_schema becomes Ollama format', async (t) => {
  stack.ollama.behave({ tokens: ['{"name":"Ada",', '"age":36}'] });
  const schema = z.object({ name: z.string(), age: z.number() });
  const result = await generateObject({
    model: compatible.chatModel('testing'),
    schema,
    schemaName: 'person',
    prompt: 'Ada Lovelace at 36',
    maxRetries: 0,
  });
  t.same(result.object, { name: 'Ada', age: 36 });
  t.match(stack.ollama.requests.at(-1)!.format, {
    type: 'object',
    properties: { name: { type: 'string' }, age: { type: 'number' } },
  });
});

t.test('openai-compatible streamObject and generateText with Output.object: the parsed object', async (t) => {
  const schema = z.object({ name: z.string(), age: z.number() });
  stack.ollama.behave({ tokens: ['{"name":', '"Ada",', '"age":36}'] });
  const streamed = streamObject({ model: compatible.chatModel('testing'), schema, prompt: 'Ada', maxRetries: 0 });
  const partials: unknown[] = [];
  for await (const partial of streamed.partialObjectStream) partials.push(partial);
  t.same(await streamed.object, { name: 'Ada', age: 36 });
  t.ok(partials.length > 1, `partial objects while streaming (${partials.length})`);

  stack.ollama.behave({ tokens: ['{"name":"Grace","age":85}'] });
  const result = await generateText({
    model: compatible.chatModel('testing'),
    output: Output.object({ schema }),
    prompt: 'Grace',
    maxRetries: 0,
  });
  t.same(result.output, { name: 'Grace', age: 85 });
});

t.test('openai-compatible completionModel: legacy completions, plain and streamed', async (t) => {
  stack.ollama.behave({ tokens: ['Once', ' upon'] });
  const result = await generateText({ model: compatible.completionModel('testing'), prompt: 'Story', maxRetries: 0 });
  t.equal(result.text, 'Once upon');
  stack.ollama.behave({ tokens: ['a', ' time'] });
  const stream = streamText({ model: compatible.completionModel('testing'), prompt: 'Go on', maxRetries: 0 });
  t.equal(await stream.text, 'a time');
});

t.test('openai-compatible generateText with toolChoice required: a forced call on Ollama', async (t) => {
  stack.ollama.behave({ tokens: ['{"city":', '"Dhaka"}'] });
  const result = await generateText({
    model: compatible.chatModel('testing'),
    tools: { get_weather: tool({ description: 'Current weather', inputSchema: z.object({ city: z.string() }) }) },
    toolChoice: 'required',
    prompt: 'Weather in Dhaka?',
    maxRetries: 0,
  });
  t.match(result.toolCalls, [{ toolName: 'get_weather', input: { city: 'Dhaka' } }]);
  t.equal(result.finishReason, 'tool-calls');
  t.match(stack.ollama.requests.at(-1)!.format, { type: 'object', properties: { city: { type: 'string' } } });
});

t.test('openai-compatible embed and embedMany: the vectors of /api/embed', async (t) => {
  const one = await embed({ model: compatible.embeddingModel('nomic'), value: 'hello world', maxRetries: 0 });
  t.ok(close(one.embedding, fakeEmbedding('hello world')), 'embed: the vector');
  const many = await embedMany({
    model: compatible.embeddingModel('nomic'),
    values: ['hello world', 'bye'],
    maxRetries: 0,
  });
  t.equal(many.embeddings.length, 2);
  t.ok(close(many.embeddings[0]!, fakeEmbedding('hello world')), 'embedMany: the first vector');
  t.ok(close(many.embeddings[1]!, fakeEmbedding('bye')), 'embedMany: the second vector');
  t.same(stack.ollama.embedRequests.at(-1), { model: 'nomic-embed-text', input: ['hello world', 'bye'] });
});

t.test('@ai-sdk/openai .chat(): generateText, streamText and a tool round trip', async (t) => {
  stack.ollama.behave({ tokens: ['Chat ', 'completions'] });
  const text = await generateText({ model: openai.chat('testing'), prompt: 'hi', maxRetries: 0 });
  t.equal(text.text, 'Chat completions');
  t.equal(text.finishReason, 'stop');

  stack.ollama.behave({ tokens: ['x', 'y'] });
  const stream = streamText({ model: openai.chat('testing'), prompt: 'xy', maxRetries: 0 });
  t.equal(await stream.text, 'xy');

  stack.ollama.behaveInTurn([
    { tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Rome' } }] },
    { tokens: ['Sunny in Rome.'] },
  ]);
  const round = await generateText({
    model: openai.chat('testing'),
    tools: { get_weather: weather },
    stopWhen: stepCountIs(2),
    prompt: 'Weather in Rome?',
    maxRetries: 0,
  });
  t.equal(round.text, 'Sunny in Rome.');
  t.match(round.steps[0]!.toolCalls, [{ toolName: 'get_weather', input: { city: 'Rome' } }]);
});

t.test('@ai-sdk/openai .chat() generateObject: structured outputs', async (t) => {
  stack.ollama.behave({ tokens: ['{"name":"Grace","age":85}'] });
  const result = await generateObject({
    model: openai.chat('testing'),
    schema: z.object({ name: z.string(), age: z.number() }),
    prompt: 'Grace Hopper',
    maxRetries: 0,
  });
  t.same(result.object, { name: 'Grace', age: 85 });
});

t.test('@ai-sdk/openai .embedding(): embed', async (t) => {
  const one = await embed({ model: openai.embedding('nomic'), value: 'bye', maxRetries: 0 });
  t.ok(close(one.embedding, fakeEmbedding('bye')));
});

t.test('openai-compatible failures: an error status, and a cut stream never looks complete', async (t) => {
  await t.rejects(
    generateText({ model: compatible.chatModel('no_such_agent'), prompt: 'hi', maxRetries: 0 }),
    { statusCode: 404, message: /model/ },
    'an unknown agent is an APICallError with the 404',
  );
  stack.ollama.behave({ tokens: ['partial', ' answer', ' never', ' finished'], dieAfterTokens: 2, tokenDelayMs: 20 });
  const result = streamText({ model: compatible.chatModel('testing'), prompt: 'hi', maxRetries: 0, onError: () => {} });
  const types: string[] = [];
  for await (const part of result.fullStream) types.push(part.type);
  t.ok(types.includes('error'), `the stream reports an error (parts: ${types.join(' ')})`);
  t.not(await result.finishReason, 'stop', 'and does not finish as complete');
});

// The provider's default model speaks the Responses API (POST /v1/responses): issue 19 point 1.
t.test('@ai-sdk/openai default model (Responses API): generateText and streamText', async (t) => {
  stack.ollama.behave({ tokens: ['Hello', ' Responses'] });
  const result = await generateText({ model: openai('testing'), prompt: 'hi', maxRetries: 0 });
  t.equal(result.text, 'Hello Responses');
  t.equal(result.finishReason, 'stop');
  t.match(result.usage, { inputTokens: 12, outputTokens: 2 });
  stack.ollama.behave({ tokens: ['a', 'b'] });
  const stream = streamText({ model: openai('testing'), prompt: 'ab', maxRetries: 0 });
  const parts: string[] = [];
  for await (const part of stream.textStream) parts.push(part);
  t.same(parts, ['a', 'b']);
});

t.test('@ai-sdk/openai default model (Responses API): a tool round trip', async (t) => {
  stack.ollama.behaveInTurn([
    { tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Lima' } }] },
    { tokens: ['Sunny in Lima.'] },
  ]);
  const result = await generateText({
    model: openai('testing'),
    tools: { get_weather: weather },
    stopWhen: stepCountIs(2),
    prompt: 'Weather in Lima?',
    maxRetries: 0,
  });
  t.equal(result.text, 'Sunny in Lima.');
  t.match(result.steps[0]!.toolCalls, [{ toolName: 'get_weather', input: { city: 'Lima' } }]);
  const sent = stack.ollama.requests.at(-1)!.messages;
  t.match(sent.at(-1), { role: 'tool', content: JSON.stringify({ city: 'Lima', sky: 'sunny' }) });
});

t.test('@ai-sdk/openai default model (Responses API): a streamed tool call', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Kyiv' } }] });
  const result = streamText({
    model: openai('testing'),
    tools: { get_weather: tool({ description: 'Current weather', inputSchema: z.object({ city: z.string() }) }) },
    prompt: 'Weather in Kyiv?',
    maxRetries: 0,
  });
  const types: string[] = [];
  for await (const part of result.fullStream) types.push(part.type);
  t.match(await result.toolCalls, [{ toolName: 'get_weather', input: { city: 'Kyiv' } }]);
  t.equal(await result.finishReason, 'tool-calls');
  t.notOk(types.includes('text-delta'), `no text in a tool-call answer (parts: ${types.join(' ')})`);
});

t.test('@ai-sdk/openai default model (Responses API): generateObject via text.format', async (t) => {
  stack.ollama.behave({ tokens: ['{"name":"Ada","age":36}'] });
  const result = await generateObject({
    model: openai('testing'),
    schema: z.object({ name: z.string(), age: z.number() }),
    prompt: 'Ada',
    maxRetries: 0,
  });
  t.same(result.object, { name: 'Ada', age: 36 });
  t.match(stack.ollama.requests.at(-1)!.format, { type: 'object', required: ['name', 'age'] });
});
