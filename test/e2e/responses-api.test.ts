import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';

// The Responses API over the real stack: nats-server, gateway, worker, SQLite, fake Ollama.
const stack = await startStack({ env: { API_KEYS: 'key-alice,key-bob' } });
t.teardown(() => stack.close());
const as = (key: string) => ({ ...AUTH, authorization: `Bearer ${key}` });
const post = async (body: unknown, key = 'key-alice') => {
  const res = await fetch(`${stack.baseUrl}/v1/responses`, {
    method: 'POST',
    headers: as(key),
    body: JSON.stringify(body),
  });
  return { res, text: await res.text() };
};
const json = async (body: unknown, key = 'key-alice') => {
  const { res, text } = await post(body, key);
  return { status: res.status, body: JSON.parse(text) };
};
/** The events of a Responses SSE body: `event:` names and their parsed data. */
const eventsOf = (text: string) =>
  text
    .split('\n\n')
    .filter((block) => block.startsWith('event: '))
    .map((block) => {
      const [head, data] = block.split('\n');
      return { event: head!.slice('event: '.length), data: JSON.parse(data!.slice('data: '.length)) };
    });

const weather = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

t.test('a string input answers with a response object; instructions join the system message', async (t) => {
  stack.ollama.behave({ tokens: ['Hello', ' there'] });
  const { status, body } = await json({
    model: 'documentation',
    input: 'Hi',
    instructions: 'Be brief.',
    max_output_tokens: 40,
    temperature: 0.2,
    metadata: { team: 'qa' },
  });
  t.equal(status, 200);
  t.match(body, {
    object: 'response',
    status: 'completed',
    model: 'documentation',
    instructions: 'Be brief.',
    max_output_tokens: 40,
    metadata: { team: 'qa' },
    error: null,
    output: [
      {
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Hello there', annotations: [] }],
      },
    ],
    usage: { input_tokens: 12, output_tokens: 2, total_tokens: 14 },
  });
  t.match(body.id, /^resp_/);
  const sent = stack.ollama.requests.at(-1)!;
  t.match(sent.messages[0], { role: 'system', content: /^You are a technical writer.*\n\nBe brief\.$/s });
  t.same(sent.messages.slice(1), [{ role: 'user', content: 'Hi' }], "joined to the agent's system prompt");
  t.match(sent.options, { num_predict: 40, temperature: 0.2 });
});

t.test('per-agent base URL: the path names the agent, model may be left out', async (t) => {
  stack.ollama.behave({ tokens: ['reviewed'] });
  const res = await fetch(`${stack.baseUrl}/agents/code_review/v1/responses`, {
    method: 'POST',
    headers: as('key-alice'),
    body: JSON.stringify({ input: 'def add(a, b): return a - b' }),
  });
  t.equal(res.status, 200);
  const created = await res.json();
  t.match(created, { object: 'response', model: 'code_review', output: [{ type: 'message' }] });
  // An SDK on this base URL reads back, lists and deletes what it created there.
  const base = `${stack.baseUrl}/agents/code_review/v1/responses/${created.id}`;
  const got = await fetch(base, { headers: as('key-alice') });
  t.equal(got.status, 200);
  t.match(await got.json(), { id: created.id, object: 'response', output: [{ type: 'message' }] });
  const items = await fetch(`${base}/input_items`, { headers: as('key-alice') });
  t.equal(items.status, 200);
  t.match(await items.json(), { object: 'list', data: [{ type: 'message', role: 'user' }] });
  t.equal((await fetch(base, { headers: as('key-bob') })).status, 404, "another key's id is not found here either");
  const deleted = await fetch(base, { method: 'DELETE', headers: as('key-alice') });
  t.match(await deleted.json(), { id: created.id, deleted: true });
  t.equal((await fetch(base, { headers: as('key-alice') })).status, 404);
});

t.test('items input: messages with input_text parts', async (t) => {
  stack.ollama.behave({ tokens: ['ok'] });
  const { status, body } = await json({
    model: 'documentation',
    input: [
      { role: 'user', content: [{ type: 'input_text', text: 'one' }] },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'two' }] },
      { role: 'user', content: 'three' },
    ],
  });
  t.equal(status, 200);
  t.equal(body.output[0].content[0].text, 'ok');
  t.same(stack.ollama.requests.at(-1)!.messages.slice(-3), [
    { role: 'user', content: 'one' },
    { role: 'assistant', content: 'two' },
    { role: 'user', content: 'three' },
  ]);
});

t.test('text.format json_schema reaches the model as structured output', async (t) => {
  stack.ollama.behave({ tokens: ['{"city":"Oslo"}'] });
  const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
  const { status, body } = await json({
    model: 'documentation',
    input: 'A city as JSON',
    text: { format: { type: 'json_schema', name: 'city', schema, strict: true } },
  });
  t.equal(status, 200);
  t.same(JSON.parse(body.output[0].content[0].text), { city: 'Oslo' });
  t.match(body.text, { format: { type: 'json_schema', name: 'city' } });
  t.same(stack.ollama.requests.at(-1)!.format, schema, "Ollama's format carries the schema");
});

t.test("a reasoning model's thinking is a reasoning item, apart from the answer", async (t) => {
  stack.ollama.behave({ thinking: ['Two plus', ' two'], tokens: ['4'] });
  const { body } = await json({ model: 'testing', input: '2+2?', reasoning: { effort: 'high' } });
  t.match(body.output, [
    { type: 'reasoning', content: [{ type: 'reasoning_text', text: 'Two plus two' }] },
    { type: 'message', content: [{ type: 'output_text', text: '4' }] },
  ]);
  t.equal(stack.ollama.requests.at(-1)!.body['think'], true, "reasoning.effort becomes Ollama's think");
  t.match(body.reasoning, { effort: 'high' });
  stack.ollama.behave({ thinking: ['Hmm'], tokens: ['ok'] });
  const { text } = await post({ model: 'testing', input: 'x', stream: true, reasoning: { effort: 'low' } });
  const events = eventsOf(text);
  t.ok(events.some((e) => e.event === 'response.reasoning_text.delta' && e.data.delta === 'Hmm'));
  t.match(events.at(-1)!.data.response.output, [{ type: 'reasoning' }, { type: 'message' }]);
});

t.test('previous_response_id continues the conversation from memory', async (t) => {
  stack.ollama.behave({ tokens: ['Paris', '.'] });
  const first = await json({ model: 'documentation', input: 'Capital of France?' });
  stack.ollama.behave({ tokens: ['2M'] });
  const second = await json({ model: 'documentation', input: 'Population?', previous_response_id: first.body.id });
  t.equal(second.status, 200);
  t.equal(second.body.previous_response_id, first.body.id);
  t.same(stack.ollama.requests.at(-1)!.messages.slice(-3), [
    { role: 'user', content: 'Capital of France?' },
    { role: 'assistant', content: 'Paris.' },
    { role: 'user', content: 'Population?' },
  ]);
  const both = await fetch(`${stack.baseUrl}/v1/responses`, {
    method: 'POST',
    headers: { ...as('key-alice'), 'x-session-id': 'conv_other' },
    body: JSON.stringify({ model: 'documentation', input: 'x', previous_response_id: first.body.id }),
  });
  t.equal(both.status, 400, 'X-Session-ID naming another conversation is refused');
  t.equal(((await both.json()) as { error: { param: string } }).error.param, 'previous_response_id');
  const stranger = await json({ model: 'documentation', input: 'x', previous_response_id: first.body.id }, 'key-bob');
  const unknown = await json({ model: 'documentation', input: 'x', previous_response_id: 'resp_nothing' }, 'key-bob');
  t.equal(stranger.status, 404, "another key's response answers 404");
  t.same(stranger.body.error.param, 'previous_response_id');
  t.same(
    stranger.body.error.message.replace(first.body.id, 'ID'),
    unknown.body.error.message.replace('resp_nothing', 'ID'),
    'exactly like a missing one',
  );
});

t.test('streaming: the Responses event sequence with sequence numbers', async (t) => {
  stack.ollama.behave({ tokens: ['a', 'b', 'c'] });
  const { res, text } = await post({ model: 'documentation', input: 'abc', stream: true });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /text\/event-stream/);
  const events = eventsOf(text);
  t.same(
    events.map((e) => e.event),
    [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ],
  );
  t.same(
    events.map((e) => e.data.sequence_number),
    events.map((_, i) => i),
  );
  t.ok(events.every((e) => e.data.type === e.event));
  t.equal(events[0]!.data.response.status, 'in_progress');
  t.equal(events[7]!.data.text, 'abc');
  const completed = events.at(-1)!.data.response;
  t.match(completed, { status: 'completed', output: [{ type: 'message', content: [{ text: 'abc' }] }] });
  t.match(completed.usage, { input_tokens: 12, output_tokens: 3 });
});

t.test('previous_response_id replays the branch it names: an answer asked again sees nothing after it', async (t) => {
  const ask = async (input: string, answer: string, previous?: string) => {
    stack.ollama.behave({ tokens: [answer] });
    const { status, body } = await json({
      model: 'documentation',
      input,
      ...(previous ? { previous_response_id: previous } : {}),
    });
    t.equal(status, 200, input);
    const sent = stack.ollama.requests.at(-1)!.messages.filter((m) => m.role !== 'system');
    return { id: body.id as string, sent: sent.map((m) => m.content) };
  };
  const first = await ask('Pick a colour.', 'Red.');
  await ask('Another?', 'Blue.', first.id);
  // The same question again, from the first answer (a regenerated reply): Blue was never said here.
  const again = await ask('Another?', 'Green.', first.id);
  t.same(again.sent, ['Pick a colour.', 'Red.', 'Another?']);
  const next = await ask('And the one before?', 'Red.', again.id);
  t.same(next.sent, ['Pick a colour.', 'Red.', 'Another?', 'Green.', 'And the one before?']);
});

t.test('previous_response_id carries every input item of the response it names, earlier turns included', async (t) => {
  // Agents often send a whole first input (earlier turns, a tool round trip), then chain by id.
  stack.ollama.behave({ tokens: ['Noted'] });
  const first = await json({
    model: 'documentation',
    input: [
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'Hello Ada.' },
      { type: 'function_call', call_id: 'call_w', name: 'get_weather', arguments: '{"city":"Oslo"}' },
      { type: 'function_call_output', call_id: 'call_w', output: 'sunny' },
      { role: 'user', content: 'Remember the weather.' },
    ],
    tools: [weather],
  });
  t.equal(first.status, 200);
  stack.ollama.behave({ tokens: ['Ada'] });
  const second = await json({ model: 'documentation', input: 'My name?', previous_response_id: first.body.id });
  t.equal(second.status, 200);
  const sent = stack.ollama.requests.at(-1)!.messages.filter((m) => m.role !== 'system');
  t.same(
    sent.map((m) => [m.role, m.content]),
    [
      ['user', 'My name is Ada.'],
      ['assistant', 'Hello Ada.'], // the function_call item joins the assistant message before it
      ['tool', 'sunny'],
      ['user', 'Remember the weather.'],
      ['assistant', 'Noted'],
      ['user', 'My name?'],
    ],
  );
  t.match(sent[1], { tool_calls: [{ function: { name: 'get_weather' } }] });
  const items = await fetch(`${stack.baseUrl}/v1/responses/${first.body.id}/input_items?order=asc`, {
    headers: as('key-alice'),
  });
  t.same(
    ((await items.json()) as { data: Array<{ type: string }> }).data.map((item) => item.type),
    ['message', 'message', 'function_call', 'function_call_output', 'message'],
    'input_items lists every input item',
  );
});

t.test('previous_response_id carries developer input items, not the instructions', async (t) => {
  // LangChain's use_previous_response_id sends the system message with the first input only.
  stack.ollama.behave({ tokens: ['Arr'] });
  // Read back as sent (below): the developer's string content as its one input_text part.
  const userParts = ['Hel', '', 'lo 👋'].map((text) => ({ type: 'input_text', text }));
  const first = await json({
    model: 'documentation',
    instructions: 'Be brief.',
    input: [
      { role: 'developer', content: 'Talk like a pirate.' },
      { role: 'system', content: [{ type: 'input_text', text: 'Rule' }] },
      { role: 'user', content: userParts },
    ],
  });
  t.equal(first.status, 200);
  const firstSent = stack.ollama.requests.at(-1)!.messages.slice(-3);
  t.same(
    firstSent,
    [
      { role: 'system', content: 'Talk like a pirate.' },
      { role: 'system', content: 'Rule' },
      { role: 'user', content: 'Hel\n\nlo 👋' },
    ],
    'the model sees system messages and the text parts one per line (PART_SEPARATOR)',
  );
  stack.ollama.behave({ tokens: ['Aye'] });
  const second = await json({ model: 'documentation', input: 'Again', previous_response_id: first.body.id });
  t.equal(second.status, 200);
  const sent = stack.ollama.requests.at(-1)!.messages.slice(1); // after the agent's system prompt
  t.same(
    sent,
    [...firstSent, { role: 'assistant', content: 'Arr' }, { role: 'user', content: 'Again' }],
    'replayed from memory as it was first sent to the model',
  );
  const items = await fetch(`${stack.baseUrl}/v1/responses/${first.body.id}/input_items?order=asc`, {
    headers: as('key-alice'),
  });
  const data = ((await items.json()) as { data: unknown[] }).data;
  t.same(
    data.map((item) => {
      const { role, content } = item as { role: string; content: unknown };
      return { role, content };
    }),
    [
      { role: 'developer', content: [{ type: 'input_text', text: 'Talk like a pirate.' }] },
      { role: 'system', content: [{ type: 'input_text', text: 'Rule' }] },
      { role: 'user', content: userParts },
    ],
    'the roles and text parts as they were sent',
  );
});

t.test("conversation continues from a conversation's end; previous_response_id takes only responses", async (t) => {
  stack.ollama.behave({ tokens: ['Paris', '.'] });
  const first = await json({ model: 'documentation', input: 'Capital of France?' });
  const conversation = first.body.conversation_id as string;
  t.same(first.body.conversation, { id: conversation }, 'the response names the conversation it was stored in');
  stack.ollama.behave({ tokens: ['2M'] });
  const second = await json({ model: 'documentation', input: 'Population?', conversation });
  t.equal(second.status, 200);
  t.match(second.body, {
    conversation: { id: conversation },
    conversation_id: conversation,
    previous_response_id: null,
  });
  stack.ollama.behave({ tokens: ['Yes'] });
  const { text } = await post({
    model: 'documentation',
    input: 'Big?',
    conversation: { id: conversation },
    stream: true,
  });
  const events = eventsOf(text);
  t.same(events[0]!.data.response.conversation, { id: conversation }, 'response.created names it (object form)');
  t.same(events.at(-1)!.data.response.conversation, { id: conversation });
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(-3)
      .map((m: { content: string }) => m.content),
    ['Population?', '2M', 'Big?'],
    "the conversation's last turns before the new input",
  );
  const stored = await fetch(`${stack.baseUrl}/v1/responses/${second.body.id}`, { headers: as('key-alice') });
  t.same((await stored.json()).conversation, { id: conversation }, 'a stored response names it too');

  const wrongKind = await json({ model: 'documentation', input: 'x', previous_response_id: conversation });
  t.match(wrongKind, {
    status: 400,
    body: { error: { param: 'previous_response_id', message: /begins with 'resp_'.*'conversation'/ } },
  });
  const both = await json({ model: 'documentation', input: 'x', conversation, previous_response_id: first.body.id });
  t.match(both, { status: 400, body: { error: { param: 'conversation', message: /^Mutually exclusive/ } } });
  const bothWithItem = await json({
    model: 'documentation',
    input: [first.body.output[0], { role: 'user', content: 'x' }],
    conversation,
    previous_response_id: first.body.id,
  });
  t.match(bothWithItem.body.error, { message: /^Mutually exclusive/ }, 'before the items are checked');
  const header = await fetch(`${stack.baseUrl}/v1/responses`, {
    method: 'POST',
    headers: { ...as('key-alice'), 'x-session-id': 'conv_other' },
    body: JSON.stringify({ model: 'documentation', input: 'x', conversation }),
  });
  t.match(await header.json(), { error: { param: 'conversation' } }, 'X-Session-ID naming another one: a 400');
  t.equal(header.status, 400);
  const malformed = await fetch(`${stack.baseUrl}/v1/responses`, {
    method: 'POST',
    headers: { ...as('key-alice'), 'x-session-id': 'a b' },
    body: JSON.stringify({ model: 'documentation', input: 'x', conversation }),
  });
  t.match(await malformed.json(), { error: { param: 'X-Session-ID' } }, 'a malformed header is named as such');
  const stranger = await json({ model: 'documentation', input: 'x', conversation }, 'key-bob');
  const unknown = await json({ model: 'documentation', input: 'x', conversation: 'conv_nothing' }, 'key-bob');
  t.match(stranger, {
    status: 404,
    body: { error: { code: 'session_not_found', param: 'conversation', message: /leave out 'conversation'\.$/ } },
  });
  t.same(
    stranger.body.error.message.replace(conversation, 'ID'),
    unknown.body.error.message.replace('conv_nothing', 'ID'),
    "another key's conversation answers exactly like a missing one",
  );
  const stateless = await json({ model: 'documentation', input: 'x', conversation, store: false });
  t.match(stateless, { status: 400, body: { error: { param: 'store' } } });

  // An item of the conversation sent back beside it is in it already, as beside previous_response_id.
  const answer = first.body.output[0];
  const resent = await json({ model: 'documentation', input: [answer, { role: 'user', content: 'x' }], conversation });
  t.match(resent, {
    status: 400,
    body: { error: { param: 'input', message: `Duplicate item found with id ${answer.id}.` } },
  });
  const referenced = await json({
    model: 'documentation',
    input: [
      { type: 'item_reference', id: answer.id },
      { role: 'user', content: 'x' },
    ],
    conversation: { id: conversation },
  });
  t.match(referenced, { status: 400, body: { error: { message: /^Duplicate item found/ } } });
  stack.ollama.behave({ tokens: ['Elsewhere'] });
  const other = await json({ model: 'documentation', input: 'Another' });
  const copied = await json({
    model: 'documentation',
    input: [answer, { role: 'user', content: 'x' }],
    conversation: other.body.conversation.id,
  });
  t.equal(copied.status, 200, "another conversation's item is new to this one");
});

t.test('X-Session-ID beside previous_response_id: the same id is one ask, another a 400 naming both', async (t) => {
  stack.ollama.behave({ tokens: ['One'] });
  const first = await json({ model: 'documentation', input: 'Count' });
  const send = (session: string) =>
    fetch(`${stack.baseUrl}/v1/responses`, {
      method: 'POST',
      headers: { ...as('key-alice'), 'x-session-id': session },
      body: JSON.stringify({ model: 'documentation', input: 'On', previous_response_id: first.body.id }),
    });
  stack.ollama.behave({ tokens: ['Two'] });
  t.equal((await send(first.body.id)).status, 200);
  const both = await send(first.body.conversation_id);
  t.equal(both.status, 400);
  t.match((await both.json()).error, {
    param: 'previous_response_id',
    message: /X-Session-ID and previous_response_id each say what this response continues/,
  });
});

t.test('a reasoning item sent back as it was answered is dropped; alone, it leaves nothing to answer', async (t) => {
  stack.ollama.behave({ tokens: ['ok'] });
  const thought = { id: 'rs_x', type: 'reasoning', status: 'completed', summary: [] };
  const content = [{ type: 'reasoning_text', text: 'thinking' }];
  const answered = await json({
    model: 'documentation',
    input: [
      { role: 'user', content: 'hi' },
      { ...thought, content },
      { role: 'user', content: 'again' },
    ],
  });
  t.equal(answered.status, 200);
  const alone = await json({ model: 'documentation', input: [{ ...thought, content }] });
  t.match(alone, { status: 400, body: { error: { code: 'invalid_request', param: 'input' } } });
});

t.test('a function tool round trip: function_call item, then function_call_output', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  const first = await json({ model: 'documentation', input: 'Weather in Oslo?', tools: [weather] });
  t.equal(first.status, 200);
  t.equal(first.body.output.length, 1, 'no empty message next to the call');
  const call = first.body.output[0];
  t.match(call, { type: 'function_call', status: 'completed', name: 'get_weather' });
  t.same(JSON.parse(call.arguments), { city: 'Oslo' });
  t.same(stack.ollama.requests.at(-1)!.tools?.[0]?.function.name, 'get_weather');

  // The call item sent back beside previous_response_id is in the conversation already: named as such,
  // by its item id as OpenAI does, or (sent without one) by its call id.
  const output = { type: 'function_call_output', call_id: call.call_id, output: '{"sky":"clear"}' };
  const again = (item: unknown) =>
    json({ model: 'documentation', previous_response_id: first.body.id, input: [item, output], tools: [weather] });
  const repeated = await again(call);
  t.equal(repeated.status, 400);
  t.match(repeated.body.error, { param: 'input', message: `Duplicate item found with id ${call.id}.` });
  const { id: _id, ...withoutId } = call;
  const recalled = await again(withoutId);
  t.equal(recalled.status, 400);
  t.match(recalled.body.error, { param: 'input[0]', message: /^Duplicate tool call '.+' in input\[0\]: .*holds it/ });

  stack.ollama.behave({ tokens: ['Sunny', ' in Oslo'] });
  const second = await json({
    model: 'documentation',
    previous_response_id: first.body.id,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"sky":"clear"}' }],
    tools: [weather],
  });
  t.equal(second.status, 200);
  t.equal(second.body.output[0].content[0].text, 'Sunny in Oslo');
  const messages = stack.ollama.requests.at(-1)!.messages;
  t.match(messages.at(-2), { role: 'assistant', tool_calls: [{ function: { name: 'get_weather' } }] });
  t.match(messages.at(-1), { role: 'tool', content: '{"sky":"clear"}' });
});

t.test('an item repeated in the input, or of the previous_response_id chain, is a 400 naming its id', async (t) => {
  stack.ollama.behave({ tokens: ['Paris.'] });
  const first = await json({ model: 'documentation', input: 'Capital of France?' });
  const answer = first.body.output[0];
  const before = stack.ollama.requests.length;
  const duplicate = {
    status: 400,
    body: {
      error: {
        type: 'invalid_request_error',
        code: 'invalid_request',
        param: 'input',
        message: `Duplicate item found with id ${answer.id}. Remove duplicate items from your input and try again.`,
      },
    },
  };
  const resent = await json({
    model: 'documentation',
    previous_response_id: first.body.id,
    input: [answer, { role: 'user', content: 'And of Spain?' }],
  });
  t.match(resent, duplicate, 'the answer is in the conversation already');
  const twice = await json({ model: 'documentation', input: [answer, answer, { role: 'user', content: 'Spain?' }] });
  t.match(twice, duplicate, 'the same item twice in one input');
  t.equal(stack.ollama.requests.length, before, 'a refused request reaches no model');

  // Agent frameworks without stored state send the whole history back, without previous_response_id.
  stack.ollama.behave({ tokens: ['Madrid.'] });
  const history = await json({
    model: 'documentation',
    store: false,
    input: [{ role: 'user', content: 'Capital of France?' }, answer, { role: 'user', content: 'And of Spain?' }],
  });
  t.equal(history.status, 200);
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(-3)
      .map((m) => [m.role, m.content]),
    [
      ['user', 'Capital of France?'],
      ['assistant', 'Paris.'],
      ['user', 'And of Spain?'],
    ],
  );
  const chained = await json({
    model: 'documentation',
    previous_response_id: first.body.id,
    input: [{ role: 'user', content: 'And of Spain?' }],
  });
  t.equal(chained.status, 200, 'only the new message beside previous_response_id');
  t.equal(stack.ollama.requests.at(-1)!.messages.filter((m) => m.content === 'Paris.').length, 1);
});

t.test('streamed tool calls: function_call_arguments deltas', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Rome' } }] });
  const { text } = await post({ model: 'documentation', input: 'Rome?', tools: [weather], stream: true });
  const events = eventsOf(text);
  t.same(
    events.map((e) => e.event),
    [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ],
  );
  t.same(JSON.parse(events[4]!.data.arguments), { city: 'Rome' });
  t.match(events.at(-1)!.data.response.output, [{ type: 'function_call', name: 'get_weather' }]);
});

t.test('a backend dying mid-stream: an error event and response.failed, and nothing stored', async (t) => {
  stack.ollama.behave({ tokens: ['partial', ' answer', ' never', ' finished'], dieAfterTokens: 2, tokenDelayMs: 20 });
  const { res, text } = await post({ model: 'documentation', input: 'cut me', stream: true });
  t.equal(res.status, 200);
  const events = eventsOf(text);
  t.same(
    events.slice(-2).map((e) => e.event),
    ['error', 'response.failed'],
  );
  t.notOk(
    events.some((e) => e.event === 'response.completed'),
    'a cut answer never looks complete',
  );
  const failed = events.at(-1)!.data.response;
  t.match(failed, { status: 'failed', error: { code: String } });
  const get = await fetch(`${stack.baseUrl}/v1/responses/${failed.id}`, { headers: as('key-alice') });
  t.equal(get.status, 404, 'an answer the client did not receive whole is not stored');

  stack.ollama.behave({ tokens: [], failWith: { status: 500, message: 'model exploded' } });
  const before = await post({ model: 'documentation', input: 'fail early' });
  t.ok(before.res.status >= 500, 'a failure before any output is a plain HTTP error');
  t.match(JSON.parse(before.text), { error: { code: String } });
});

t.test('unsupported fields are refused by name; a bad key gets 401 on any /v1/ URL', async (t) => {
  const background = await json({ model: 'documentation', input: 'x', background: true });
  t.equal(background.status, 400);
  t.equal(background.body.error.param, 'background');
  for (const audio of [{ modalities: ['text', 'audio'] }, { audio: { voice: 'alloy', format: 'wav' } }]) {
    const spoken = await json({ model: 'documentation', input: 'x', ...audio });
    t.match(spoken, { status: 400, body: { error: { param: Object.keys(audio)[0] } } }, 'audio output refused');
  }
  const options = await json({ model: 'documentation', input: 'x', stream_options: { include_obfuscation: false } });
  t.match(options, {
    status: 400,
    body: { error: { type: 'invalid_request_error', code: 'invalid_request', param: 'stream_options' } },
  });
  t.match(options.body.error.message, /only allowed when 'stream' is enabled/, 'stream_options without stream');
  const tool = await json({ model: 'documentation', input: 'x', tools: [{ type: 'web_search' }] });
  t.equal(tool.body.error.param, 'tools[0].type');
  const item = await json({ model: 'documentation', input: [{ type: 'item_reference', id: 'x' }] });
  t.equal(item.status, 404);
  t.match(item.body.error, { code: 'item_not_found', param: 'input[0].id' });
  const image = await json({
    model: 'documentation',
    input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://example.com/a.png' }] }],
  });
  t.equal(image.status, 400);
  t.equal(image.body.error.param, 'input[0].content[0].image_url', "Responses' image_url is a string");

  for (const url of ['/v1/responses', '/v1/no-such-route']) {
    const res = await fetch(`${stack.baseUrl}${url}`, { method: 'POST', headers: as('wrong'), body: '{}' });
    t.equal(res.status, 401, `${url} with a bad key`);
  }
  const unknown = await fetch(`${stack.baseUrl}/v1/no-such-route`, { headers: as('key-alice') });
  t.equal(unknown.status, 404, 'a good key learns the URL is unknown');
  const long = await fetch(`${stack.baseUrl}/v1/models/${'x'.repeat(101)}`, { headers: as('wrong') });
  t.equal(long.status, 401, 'an overlong segment too');
});

t.test('GET, input_items and DELETE of a stored response; another key reads 404 like a missing id', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Lima' } }] });
  const first = await json({
    model: 'documentation',
    input: 'Weather in Lima?',
    tools: [weather],
    metadata: { a: 'b' },
    user: 'end-user-7',
  });
  stack.ollama.behave({ tokens: ['Warm'] });
  const created = await json({
    model: 'documentation',
    previous_response_id: first.body.id,
    input: [{ type: 'function_call_output', call_id: first.body.output[0].call_id, output: '25C' }],
  });
  const get = (id: string, key = 'key-alice', path = '') =>
    fetch(`${stack.baseUrl}/v1/responses/${id}${path}`, { headers: as(key) });

  const stored = await get(first.body.id);
  t.equal(stored.status, 200);
  const body = await stored.json();
  t.match(body, {
    id: first.body.id,
    object: 'response',
    status: 'completed',
    metadata: { a: 'b' },
    output: [{ type: 'function_call', name: 'get_weather', call_id: first.body.output[0].call_id }],
    usage: { input_tokens: 12 },
  });
  t.same(body.output, first.body.output, 'the same output items, ids included');
  t.equal(body.previous_response_id, null);
  t.equal(body.user, 'end-user-7', 'the end user is stored with the turn');
  const continued = await (await get(created.body.id)).json();
  t.equal(continued.previous_response_id, first.body.id, 'the stored response repeats its previous_response_id');

  const items = await (await get(created.body.id, 'key-alice', '/input_items?order=asc')).json();
  t.match(items, {
    object: 'list',
    has_more: false,
    data: [{ type: 'function_call_output', call_id: first.body.output[0].call_id, output: '25C' }],
  });
  const firstItems = await (await get(first.body.id, 'key-alice', '/input_items')).json();
  t.match(firstItems.data, [
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather in Lima?' }] },
  ]);

  const lastId = firstItems.data[0].id as string;
  t.same((await (await get(first.body.id, 'key-alice', `/input_items?after=${lastId}`)).json()).data, []);
  const unknownAfter = await get(first.body.id, 'key-alice', '/input_items?after=msg_nothing');
  t.equal(unknownAfter.status, 400, 'an after that names no item of the list is refused, not ignored');
  t.match((await unknownAfter.json()).error, { type: 'invalid_request_error', param: 'after', message: /msg_nothing/ });

  // A replay stream exists for background responses only; a JSON body would read as an empty stream.
  const streamed = await get(first.body.id, 'key-alice', '?stream=true');
  t.equal(streamed.status, 400);
  t.match((await streamed.json()).error, { param: 'stream', message: /background/ });
  t.equal((await get(first.body.id, 'key-alice', '?stream=false&include[]=')).status, 200);
  const include = await get(first.body.id, 'key-alice', '/input_items?include[]=message.output_text.logprobs');
  t.match((await include.json()).error, { param: 'include', message: /cannot be honoured/ }, 'named, not unknown');
  t.match((await (await get(first.body.id, 'key-alice', '?bogus=1')).json()).error, { param: 'bogus' });
  for (const limit of ['0x10', '1e1', '%2B1'])
    t.match((await (await get(first.body.id, 'key-alice', `/input_items?limit=${limit}`)).json()).error, {
      param: 'limit',
      message: /decimal digits/,
    });
  t.match((await (await get(first.body.id, 'key-alice', '/input_items?limit=2&limit=3')).json()).error, {
    param: 'limit',
    message: /"limit" was given more than once/,
  });

  const stranger = await get(first.body.id, 'key-bob');
  const missing = await get('resp_missing', 'key-bob');
  t.equal(stranger.status, 404);
  const [a, b] = [await stranger.json(), await missing.json()];
  t.equal(a.error.code, 'response_not_found');
  t.equal(a.error.message.replace(first.body.id, 'ID'), b.error.message.replace('resp_missing', 'ID'));
  // An id memory never looks up (not a response's) answers the very same way.
  const notResponse = await (await get('chatcmpl-1', 'key-bob')).json();
  t.same([a.error.param, b.error.param, notResponse.error.param], ['response_id', 'response_id', 'response_id']);
  t.equal(notResponse.error.code, 'response_not_found');
  const strangerDelete = await fetch(`${stack.baseUrl}/v1/responses/${first.body.id}`, {
    method: 'DELETE',
    headers: as('key-bob'),
  });
  t.equal(strangerDelete.status, 404, 'nor may another key delete it');

  // No response is a background one: a stored one cannot be cancelled, and another key's is not found.
  const cancel = (id: string, key: string, base = stack.baseUrl) =>
    fetch(`${base}/v1/responses/${id}/cancel`, { method: 'POST', headers: as(key) });
  for (const base of [stack.baseUrl, `${stack.baseUrl}/agents/documentation`]) {
    const refused = await cancel(first.body.id, 'key-alice', base);
    t.equal(refused.status, 400, base);
    t.match((await refused.json()).error, {
      type: 'invalid_request_error',
      code: 'invalid_request',
      param: 'response_id',
      message: /^Only responses created with background=true can be cancelled/,
    });
  }
  const strangerCancel = await cancel(first.body.id, 'key-bob');
  t.equal(strangerCancel.status, 404);
  t.same((await strangerCancel.json()).error, a.error, "another key's response: GET's very 404");
  t.equal((await cancel('resp_missing', 'key-bob')).status, 404);
  t.equal((await get(first.body.id)).status, 200, 'a refused cancel changes nothing');

  const deleted = await fetch(`${stack.baseUrl}/v1/responses/${created.body.id}`, {
    method: 'DELETE',
    headers: as('key-alice'),
  });
  t.same(await deleted.json(), { id: created.body.id, object: 'response', deleted: true });
  t.equal((await get(created.body.id)).status, 404, 'gone once deleted');
  t.equal((await get(first.body.id)).status, 200, 'the rest of the conversation stays');
});

t.test('store: false keeps the response out of memory', async (t) => {
  stack.ollama.behave({ tokens: ['nothing kept'] });
  const { body } = await json({ model: 'documentation', input: 'secret', store: false });
  t.equal(body.store, false);
  t.equal((await fetch(`${stack.baseUrl}/v1/responses/${body.id}`, { headers: as('key-alice') })).status, 404);
  const refused = await json({ model: 'documentation', input: 'x', store: false, previous_response_id: body.id });
  t.equal(refused.body.error.param, 'store');
});

t.test('item_reference items replay items of stored responses of the same key only', async (t) => {
  stack.ollama.behave({ tokens: ['Paris.'] });
  const first = await json({ model: 'documentation', input: 'Capital of France?' });
  stack.ollama.behave({ tokens: ['Berlin.'] });
  const second = await json({ model: 'documentation', input: 'Capital of Germany?' });
  const [a, b] = [first.body.output[0].id as string, second.body.output[0].id as string];
  t.not(a, b, 'item ids are unique across responses, not only within one');
  const inputs = await (
    await fetch(`${stack.baseUrl}/v1/responses/${first.body.id}/input_items`, { headers: as('key-alice') })
  ).json();
  const question = inputs.data[0].id as string;

  stack.ollama.behave({ tokens: ['Both are capitals.'] });
  const replay = await json({
    model: 'documentation',
    store: false,
    input: [
      { type: 'item_reference', id: question },
      { type: 'item_reference', id: a },
      { id: b },
      { role: 'user', content: 'What do they have in common?' },
    ],
  });
  t.equal(replay.status, 200);
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(-4)
      .map((m) => [m.role, m.content]),
    [
      ['user', 'Capital of France?'],
      ['assistant', 'Paris.'],
      ['assistant', 'Berlin.'],
      ['user', 'What do they have in common?'],
    ],
  );

  const intruder = await json({ model: 'documentation', input: [{ type: 'item_reference', id: a }] }, 'key-bob');
  t.equal(intruder.status, 404, "another key's item answers like a missing one");
  t.match(intruder.body.error, { code: 'item_not_found', param: 'input[0].id' });
  const before = stack.ollama.requests.length;
  const missing = await json({
    model: 'documentation',
    input: [
      { role: 'user', content: 'hi' },
      { type: 'item_reference', id: `${a}_9` },
    ],
  });
  t.match(missing, { status: 404, body: { error: { code: 'item_not_found', param: 'input[1].id' } } });
  t.equal(stack.ollama.requests.length, before, 'a refused request reaches no model');
});

t.test('reasoning.summary: "auto" is accepted and echoed, other values refused by name', async (t) => {
  stack.ollama.behave({ tokens: ['ok'] });
  const auto = await json({ model: 'documentation', input: 'x', reasoning: { summary: 'auto' } });
  t.equal(auto.status, 200);
  t.equal(auto.body.usage.output_tokens_details.reasoning_tokens, 0, 'Ollama does not count thinking apart');
  t.match(auto.body.reasoning, { summary: 'auto' });
  const concise = await json({ model: 'documentation', input: 'x', reasoning: { summary: 'concise' } });
  t.match(concise, { status: 400, body: { error: { param: 'reasoning.summary' } } });
});
