import t from 'tap';
import type { ServerErrorFrame } from '../../gateway/websocket/frames.schema.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { openLiveClient, type LiveClient } from '../helpers/ws-client.js';

// `response.create` over `/v1/ws`: the Responses API's event sequence as frames, through the
// real stack (nats-server, gateway, worker, SQLite, fake Ollama) and a real WebSocket.
const stack = await startStack({ env: { API_KEYS: 'key-a,key-b' } });
t.teardown(() => stack.close());

const clients: LiveClient[] = [];
t.afterEach(() => {
  for (const client of clients.splice(0)) client.socket.terminate();
});
async function connected(key = 'key-a'): Promise<LiveClient> {
  const client = await openLiveClient(stack.baseUrl, { headerKey: key });
  clients.push(client);
  await client.next((f) => f.type === 'ready');
  return client;
}
/** The events of a streamed `POST /v1/responses`, parsed. */
async function sseEvents(body: object): Promise<Array<Record<string, any>>> {
  const res = await fetch(`${stack.baseUrl}/v1/responses`, {
    method: 'POST',
    headers: { ...AUTH, authorization: 'Bearer key-a' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event: '))
    .map((block) => JSON.parse(block.split('\n')[1]!.slice('data: '.length)));
}
const types = (events: Array<Record<string, any>>) => events.map((e) => e.type);
const rowsFor = async (input: string) =>
  (await stack.db.selectFrom('turns').select('id').where('user_input', '=', input).execute()).length;

t.test('a response.create frame is answered by the same events as the SSE stream', async (t) => {
  stack.ollama.behave({ tokens: ['Hel', 'lo'] });
  const http = await sseEvents({ model: 'documentation', input: 'parity over http' });
  const client = await connected();
  client.send({ type: 'response.create', id: 'r1', model: 'documentation', input: 'parity over ws' });
  const frames = await client.finishResponse('r1');
  t.same(types(frames), types(http), 'the same event types, in the same order');
  t.same(
    frames.map((f) => f['sequence_number']),
    frames.map((_, i) => i),
    'sequence_number counts the frames from 0 without gaps',
  );
  t.ok(frames.every((f) => f['id'] === 'r1'));
  const completed = frames.at(-1)!;
  t.match(completed, {
    type: 'response.completed',
    response: {
      object: 'response',
      status: 'completed',
      model: 'documentation',
      output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] }],
      usage: { input_tokens: Number, output_tokens: Number },
      conversation_id: String,
      meta: { agent: 'documentation' },
    },
  });
  t.same(
    frames.filter((f) => f.type === 'response.output_text.delta').map((f) => f['delta']),
    ['Hel', 'lo'],
  );
  t.same(client.invalidFrames, []);

  // Stored like an HTTP response: readable by its id, and continued by previous_response_id.
  const id = completed['response'].id as string;
  t.match(id, /^resp_/);
  const stored = await fetch(`${stack.baseUrl}/v1/responses/${id}`, { headers: { authorization: 'Bearer key-a' } });
  t.match(await stored.json(), { id, status: 'completed', output: [{ content: [{ text: 'Hello' }] }] });
  stack.ollama.behave({ tokens: ['again'] });
  client.send({ type: 'response.create', id: 'r2', model: 'documentation', previous_response_id: id, input: 'more' });
  const second = await client.finishResponse('r2');
  t.match(second.at(-1), { type: 'response.completed', response: { previous_response_id: id } });
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(-3)
      .map((m) => m.content),
    ['parity over ws', 'Hello', 'more'],
  );
  // A conversation continues by its id, from its last turn; its id is no previous_response_id.
  const conversation = completed['response'].conversation.id as string;
  t.equal(conversation, completed['response'].conversation_id);
  client.send({ type: 'response.create', id: 'r3', model: 'documentation', conversation, input: 'last' });
  t.match((await client.finishResponse('r3')).at(-1), { response: { conversation: { id: conversation } } });
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(-3)
      .map((m) => m.content),
    ['more', 'again', 'last'],
  );
  client.send({
    type: 'response.create',
    id: 'r4',
    model: 'documentation',
    previous_response_id: conversation,
    input: 'x',
  });
  t.match((await client.finishResponse('r4'))[0], { type: 'error', error: { param: 'previous_response_id' } });
});

t.test('tool calls stream as function_call items, with argument deltas', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  const client = await connected();
  client.send({
    type: 'response.create',
    id: 'tools',
    agent: 'documentation',
    input: [{ role: 'user', content: [{ type: 'input_text', text: 'weather in Oslo?' }] }],
    tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} } }],
  });
  const frames = await client.finishResponse('tools');
  t.ok(types(frames).includes('response.function_call_arguments.done'));
  t.match(frames.at(-1), {
    type: 'response.completed',
    response: { output: [{ type: 'function_call', name: 'get_weather', arguments: '{"city":"Oslo"}' }] },
  });
  t.same(client.invalidFrames, []);
});

t.test('refusals: one error frame (seq 0) naming the Responses field; the socket carries on', async (t) => {
  const client = await connected();
  client.send({ type: 'response.create', id: 'bg', model: 'documentation', input: 'x', background: true });
  client.send({
    type: 'response.create',
    id: 'sum',
    model: 'documentation',
    input: 'x',
    reasoning: { summary: 'concise' },
  });
  client.send({ type: 'response.create', id: 'role', model: 'documentation', input: [{ content: 'no role' }] });
  client.send({
    type: 'response.create',
    id: 'prev',
    model: 'documentation',
    input: 'x',
    previous_response_id: 'resp_nope',
  });
  client.send({ type: 'response.create', id: 'conv', model: 'documentation', input: 'x', conversation: 'conv_nope' });
  client.send({ type: 'response.create', id: 'both', agent: 'testing', model: 'documentation', input: 'x' });
  client.send({ type: 'response.create', id: 'noinput', model: 'documentation' });
  client.send({ type: 'response.create', id: 'stream', model: 'documentation', input: 'x', stream: 'yes' });
  const expected: Record<string, { code: string; param: string }> = {
    bg: { code: 'invalid_request', param: 'background' },
    sum: { code: 'invalid_request', param: 'reasoning.summary' },
    role: { code: 'invalid_request', param: 'input[0].role' },
    prev: { code: 'response_not_found', param: 'previous_response_id' },
    conv: { code: 'session_not_found', param: 'conversation' },
    both: { code: 'invalid_request', param: 'agent' },
    noinput: { code: 'invalid_request', param: 'input' },
    stream: { code: 'invalid_request', param: 'stream' },
  };
  for (const [id, error] of Object.entries(expected)) {
    const frames = await client.finishResponse(id);
    t.equal(frames.length, 1, `${id}: one frame`);
    t.match(frames[0] as ServerErrorFrame, { type: 'error', id, seq: 0, error }, id);
  }
  stack.ollama.behave({ tokens: ['still here'] });
  client.send({ type: 'response.create', id: 'ok', model: 'documentation', input: 'after the refusals' });
  t.match((await client.finishResponse('ok')).at(-1), { type: 'response.completed' });
  t.same(client.invalidFrames, []);
});

t.test("another key's response is not found over the WebSocket either", async (t) => {
  stack.ollama.behave({ tokens: ['mine'] });
  const owner = await connected('key-a');
  owner.send({ type: 'response.create', id: 'own', model: 'documentation', input: 'private turn' });
  const id = (await owner.finishResponse('own')).at(-1)!['response'].id as string;
  const intruder = await connected('key-b');
  intruder.send({ type: 'response.create', id: 'x', model: 'documentation', previous_response_id: id, input: 'hi' });
  t.match((await intruder.finishResponse('x'))[0], { type: 'error', error: { code: 'response_not_found' } });
});

t.test('a backend dying mid-answer: response.failed ends it, and nothing is stored', async (t) => {
  stack.ollama.behave({ tokens: ['partial', ' answer', ' never', ' finished'], dieAfterTokens: 2, tokenDelayMs: 20 });
  const client = await connected();
  client.send({ type: 'response.create', id: 'cut', model: 'documentation', input: 'cut over ws' });
  const frames = await client.finishResponse('cut', 15_000);
  t.match(frames.at(-1), { type: 'response.failed', response: { status: 'failed', error: { code: String } } });
  t.notOk(types(frames).includes('response.completed'));
  t.notOk(types(frames).includes('error'), 'one terminal frame: response.failed, no separate error frame');
  t.equal(await rowsFor('cut over ws'), 0);
  t.same(client.invalidFrames, []);
});

t.test('cancel stops a response like a chat: request_cancelled, nothing stored', async (t) => {
  stack.ollama.behave({ tokens: Array.from({ length: 200 }, (_, i) => `t${i} `), tokenDelayMs: 50 });
  const client = await connected();
  client.send({ type: 'response.create', id: 'long', model: 'documentation', input: 'cancel me over ws' });
  await client.next((f) => f.type === 'response.output_text.delta');
  client.send({ type: 'cancel', id: 'long' });
  const frames = await client.finishResponse('long');
  t.match(frames.at(-1), { type: 'response.failed', response: { error: { code: 'request_cancelled' } } });
  t.equal(await rowsFor('cancel me over ws'), 0);
});

t.test('item_reference items resolve over the socket too, for the same key only', async (t) => {
  stack.ollama.behave({ tokens: ['referenced answer'] });
  const client = await connected('key-a');
  client.send({ type: 'response.create', id: 'src', model: 'documentation', input: 'the source question' });
  const source = (await client.finishResponse('src')).at(-1)!['response'];
  stack.ollama.behave({ tokens: ['ok'] });
  client.send({
    type: 'response.create',
    id: 'ref',
    model: 'documentation',
    input: [
      { type: 'item_reference', id: source.output[0].id },
      { role: 'user', content: 'follow-up' },
    ],
  });
  const refFrames = await client.finishResponse('ref');
  t.match(refFrames.at(-1), { type: 'response.completed' }, 'the item of a response just received is found');
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(-2)
      .map((m) => m.content),
    ['referenced answer', 'follow-up'],
  );
  // Beside previous_response_id the item is in the conversation already: OpenAI's 400 names it.
  client.send({
    type: 'response.create',
    id: 'dup',
    model: 'documentation',
    previous_response_id: source.id,
    input: [
      { type: 'item_reference', id: source.output[0].id },
      { role: 'user', content: 'follow-up' },
    ],
  });
  t.match((await client.finishResponse('dup'))[0], {
    type: 'error',
    seq: 0,
    error: { code: 'invalid_request', param: 'input', message: `Duplicate item found with id ${source.output[0].id}.` },
  });
  const other = await connected('key-b');
  other.send({
    type: 'response.create',
    id: 'steal',
    model: 'documentation',
    input: [{ type: 'item_reference', id: source.output[0].id }],
  });
  t.match((await other.finishResponse('steal'))[0], {
    type: 'error',
    seq: 0,
    error: { code: 'item_not_found', param: 'input[0].id' },
  });
});
