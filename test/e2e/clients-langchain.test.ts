import { fileURLToPath } from 'node:url';
import { tool } from '@langchain/core/tools';
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';
import t from 'tap';
import { z } from 'zod';
import { fakeEmbedding } from '../helpers/fake-ollama.js';
import { startStack } from '../helpers/stack.js';

// LangChain JS (@langchain/openai) against the real stack: chat, streaming, tools, each
// structured-output method, and embeddings, asserting what the client returned.
const stack = await startStack({
  ollamaModels: ['llama3.2:latest', 'nomic-embed-text:latest'],
  env: { AGENTS_FILE: fileURLToPath(new URL('./fixtures/embedding-agents.json', import.meta.url)) },
});
t.teardown(() => stack.close());

const configuration = { baseURL: `${stack.baseUrl}/v1` };
const chat = (options: { useResponsesApi?: boolean } = {}) =>
  new ChatOpenAI({ model: 'testing', apiKey: 'local-only', configuration, maxRetries: 0, ...options });
const close = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((value, i) => Math.abs(value - b[i]!) < 1e-6);

const getWeather = tool(({ city }: { city: string }) => `sunny in ${city}`, {
  name: 'get_weather',
  description: 'Current weather in a city',
  schema: z.object({ city: z.string() }),
});
const Person = z.object({ name: z.string(), age: z.number() });

t.test('ChatOpenAI invoke: the answer text and token usage', async (t) => {
  stack.ollama.behave({ tokens: ['Hello', ' LangChain'] });
  const message = await chat().invoke('hi');
  t.equal(message.content, 'Hello LangChain');
  t.match(message.usage_metadata, { input_tokens: 12, output_tokens: 2, total_tokens: 14 });
  t.equal(message.response_metadata['finish_reason'], 'stop');
});

t.test('ChatOpenAI stream: the chunks concatenate to the answer', async (t) => {
  stack.ollama.behave({ tokens: ['a', 'b', 'c'] });
  let text = '';
  let usage: unknown;
  for await (const chunk of await chat().stream('abc')) {
    text += chunk.text;
    usage ??= chunk.usage_metadata;
  }
  t.equal(text, 'abc');
  t.match(usage, { input_tokens: 12, output_tokens: 3 }, 'streamed usage (stream_options.include_usage)');
});

t.test('bindTools: the tool call with parsed args, and a round trip with a ToolMessage', async (t) => {
  stack.ollama.behaveInTurn([
    { tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] },
    { tokens: ['Sunny in Paris.'] },
  ]);
  const model = chat().bindTools([getWeather]);
  const first = await model.invoke('Weather in Paris?');
  t.match(first.tool_calls, [{ name: 'get_weather', args: { city: 'Paris' }, id: /^call_/ }]);
  const toolMessage = await getWeather.invoke(first.tool_calls![0]!);
  const second = await model.invoke([{ role: 'user', content: 'Weather in Paris?' }, first, toolMessage]);
  t.equal(second.content, 'Sunny in Paris.');
  const sent = stack.ollama.requests.at(-1)!.messages;
  t.match(sent.at(-1), { role: 'tool', content: 'sunny in Paris' }, 'the tool result reached the model');
});

t.test('bindTools with strict and tool_choice any: a forced call on Ollama', async (t) => {
  stack.ollama.behave({ tokens: ['{"city":"Lima"}'] });
  const message = await chat().bindTools([getWeather], { strict: true, tool_choice: 'any' }).invoke('Weather?');
  t.match(message.tool_calls, [{ name: 'get_weather', args: { city: 'Lima' } }]);
  t.match(stack.ollama.requests.at(-1)!.format, { type: 'object', properties: { city: { type: 'string' } } });
});

t.test('bindTools streamed: the tool call chunks assemble into the call', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  let whole: Awaited<ReturnType<ReturnType<typeof chat>['invoke']>> | undefined;
  for await (const chunk of await chat().bindTools([getWeather]).stream('Weather in Oslo?'))
    whole = whole ? whole.concat(chunk) : chunk;
  t.match(whole?.tool_calls, [{ name: 'get_weather', args: { city: 'Oslo' } }]);
});

t.test('withStructuredOutput functionCalling: a forced (named) tool call on Ollama', async (t) => {
  stack.ollama.behave({ tokens: ['{"name":"Ada",', '"age":36}'] });
  const person = await chat()
    .withStructuredOutput(Person, { name: 'person', method: 'functionCalling' })
    .invoke('Ada Lovelace at 36');
  t.same(person, { name: 'Ada', age: 36 });
  const sent = stack.ollama.requests.at(-1)!;
  t.match(sent.format, { type: 'object', properties: { name: { type: 'string' }, age: { type: 'number' } } });
  t.notOk(sent.tools, 'forced: constrained output instead of tools');
});

t.test('withStructuredOutput jsonSchema: response_format json_schema as Ollama format', async (t) => {
  stack.ollama.behave({ tokens: ['{"name":"Grace","age":85}'] });
  const person = await chat().withStructuredOutput(Person, { name: 'person', method: 'jsonSchema' }).invoke('Grace');
  t.same(person, { name: 'Grace', age: 85 });
  t.match(stack.ollama.requests.at(-1)!.format, { type: 'object', required: ['name', 'age'] });
});

t.test('withStructuredOutput jsonMode: response_format json_object', async (t) => {
  stack.ollama.behave({ tokens: ['{"name":"Alan","age":41}'] });
  const person = await chat()
    .withStructuredOutput(Person, { name: 'person', method: 'jsonMode' })
    .invoke('Alan Turing at 41, as JSON with name and age');
  t.same(person, { name: 'Alan', age: 41 });
  t.equal(stack.ollama.requests.at(-1)!.format, 'json');
});

t.test('OpenAIEmbeddings: embedQuery and embedDocuments', async (t) => {
  const embeddings = new OpenAIEmbeddings({ model: 'nomic', apiKey: 'local-only', configuration, maxRetries: 0 });
  t.ok(close(await embeddings.embedQuery('hello world'), fakeEmbedding('hello world')), 'embedQuery');
  const vectors = await embeddings.embedDocuments(['hello world', 'bye']);
  t.equal(vectors.length, 2);
  t.ok(close(vectors[0]!, fakeEmbedding('hello world')), 'embedDocuments: the first vector');
  t.ok(close(vectors[1]!, fakeEmbedding('bye')), 'embedDocuments: the second vector');
});

t.test('failures: an error status, and a cut stream throws', async (t) => {
  await t.rejects(
    new ChatOpenAI({ model: 'no_such_agent', apiKey: 'local-only', configuration, maxRetries: 0 }).invoke('hi'),
    { status: 404, message: /model/ },
    'an unknown agent rejects with the 404',
  );
  stack.ollama.behave({ tokens: ['partial', ' answer', ' never', ' finished'], dieAfterTokens: 2, tokenDelayMs: 20 });
  let text = '';
  await t.rejects(async () => {
    for await (const chunk of await chat().stream('hi')) text += chunk.text;
  }, 'the stream throws instead of ending quietly');
  t.not(text, 'partial answer never finished');
});

t.test('ChatOpenAI useResponsesApi: invoke and stream', async (t) => {
  stack.ollama.behave({ tokens: ['Hello', ' Responses'] });
  const message = await chat({ useResponsesApi: true }).invoke('hi');
  t.equal(message.text, 'Hello Responses');
  t.match(message.usage_metadata, { input_tokens: 12, output_tokens: 2 });
  stack.ollama.behave({ tokens: ['a', 'b', 'c'] });
  let text = '';
  for await (const chunk of await chat({ useResponsesApi: true }).stream('abc')) text += chunk.text;
  t.equal(text, 'abc');
});

t.test('ChatOpenAI useResponsesApi: bindTools and a round trip', async (t) => {
  stack.ollama.behaveInTurn([
    { tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Quito' } }] },
    { tokens: ['Sunny in Quito.'] },
  ]);
  const model = chat({ useResponsesApi: true }).bindTools([getWeather]);
  const first = await model.invoke('Weather in Quito?');
  t.match(first.tool_calls, [{ name: 'get_weather', args: { city: 'Quito' } }]);
  const toolMessage = await getWeather.invoke(first.tool_calls![0]!);
  const second = await model.invoke([{ role: 'user', content: 'Weather in Quito?' }, first, toolMessage]);
  t.equal(second.text, 'Sunny in Quito.');
  t.match(stack.ollama.requests.at(-1)!.messages.at(-1), { role: 'tool', content: 'sunny in Quito' });
});

t.test('ChatOpenAI useResponsesApi: withStructuredOutput jsonSchema (text.format)', async (t) => {
  stack.ollama.behave({ tokens: ['{"name":"Linus","age":28}'] });
  const person = await chat({ useResponsesApi: true })
    .withStructuredOutput(Person, { name: 'person', method: 'jsonSchema' })
    .invoke('Linus');
  t.same(person, { name: 'Linus', age: 28 });
  t.match(stack.ollama.requests.at(-1)!.format, { type: 'object', required: ['name', 'age'] });
});
