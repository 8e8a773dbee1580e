import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';

const stack = await startStack({ env: { API_KEYS: 'key-alice,key-bob' } });
t.teardown(() => stack.close());
const as = (key: string, extra: Record<string, string> = {}) => ({ ...AUTH, authorization: `Bearer ${key}`, ...extra });
const chat = async (key: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: as(key, headers),
    body: JSON.stringify(body),
  });
  return { res, body: await res.json() };
};

t.test('a follow-up by conversation id or by completion id feeds the stored turns to the model', async (t) => {
  stack.ollama.behave({ tokens: ['Paris', '.'] });
  const first = await chat('key-alice', {
    model: 'documentation',
    messages: [{ role: 'user', content: 'Capital of France?' }],
  });
  t.equal(first.res.status, 200);
  const conversationId = first.body.conversation_id;

  stack.ollama.behave({ tokens: ['About', ' 2M'] });
  const byConversation = await chat(
    'key-alice',
    { model: 'documentation', messages: [{ role: 'user', content: 'Population?' }] },
    { 'x-session-id': conversationId },
  );
  t.equal(byConversation.res.status, 200);
  t.equal(byConversation.body.conversation_id, conversationId, 'same conversation');
  t.equal(byConversation.body.meta.memory_used, true);
  t.same(
    stack.ollama.requests.at(-1)!.messages.slice(1),
    [
      { role: 'user', content: 'Capital of France?' },
      { role: 'assistant', content: 'Paris.' },
      { role: 'user', content: 'Population?' },
    ],
    'history between the system prompt and the new message',
  );

  stack.ollama.behave({ tokens: ['Yes'] });
  const byCompletion = await chat(
    'key-alice',
    { model: 'documentation', stream: false, messages: [{ role: 'user', content: 'Sure?' }] },
    { 'x-session-id': first.body.id },
  );
  t.equal(byCompletion.body.conversation_id, conversationId, 'a completion id resolves to its conversation');
  t.equal(byCompletion.res.headers.get('x-session-id'), conversationId);
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(1)
      .map((m) => m.content),
    ['Capital of France?', 'Paris.', 'Population?', 'About 2M', 'Sure?'],
  );

  const rows = await stack.db
    .selectFrom('turns')
    .selectAll()
    .where('session_id', '=', conversationId)
    .orderBy('id')
    .execute();
  t.same(
    rows.map((r) => [r.user_input, r.assistant_response]),
    [
      ['Capital of France?', 'Paris.'],
      ['Population?', 'About 2M'],
      ['Sure?', 'Yes'],
    ],
  );
  t.same(
    rows.map((r) => r.request_id),
    [first.body.id, byConversation.body.id, byCompletion.body.id],
    'request id = completion id',
  );
  t.ok(
    rows.every(
      (r) =>
        r.agent === 'documentation' &&
        r.model === 'llama3.2' &&
        r.cached === 0 &&
        r.completion_tokens > 0 &&
        r.prompt_tokens === 12,
    ),
  );
  const session = await stack.db
    .selectFrom('sessions')
    .selectAll()
    .where('id', '=', conversationId)
    .executeTakeFirstOrThrow();
  t.equal(session.turn_count, 3);
});

t.test('streaming follow-ups use memory and report the conversation in X-Session-ID', async (t) => {
  stack.ollama.behave({ tokens: ['first'] });
  const first = await chat('key-alice', { model: 'testing', messages: [{ role: 'user', content: 'one' }] });
  stack.ollama.behave({ tokens: ['second'] });
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: as('key-alice', { 'x-session-id': first.body.id }),
    body: JSON.stringify({ model: 'testing', stream: true, messages: [{ role: 'user', content: 'two' }] }),
  });
  t.equal(res.headers.get('x-session-id'), first.body.conversation_id);
  await res.text();
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(1)
      .map((m) => m.content),
    ['one', 'first', 'two'],
  );
});

t.test('a client sending its own history is honoured as-is (no stored turns added)', async (t) => {
  stack.ollama.behave({ tokens: ['ok'] });
  const first = await chat('key-alice', { model: 'testing', messages: [{ role: 'user', content: 'stored question' }] });
  const own = [
    { role: 'user', content: 'q1' },
    { role: 'assistant', content: 'a1' },
    { role: 'user', content: 'q2' },
  ];
  const second = await chat(
    'key-alice',
    { model: 'testing', messages: own },
    { 'x-session-id': first.body.conversation_id },
  );
  t.equal(second.body.meta.memory_used, false);
  t.same(stack.ollama.requests.at(-1)!.messages.slice(1), own);
  const row = await stack.db
    .selectFrom('turns')
    .selectAll()
    .where('request_id', '=', second.body.id)
    .executeTakeFirstOrThrow();
  t.same(
    JSON.parse(row.input_messages),
    [{ role: 'user', content: 'q2' }],
    'only the new input is stored, so replayed history has no duplicates',
  );
});

t.test("an unknown session id answers 404 — the same as another key's session, so probes learn nothing", async (t) => {
  const before = stack.ollama.requests.length;
  const res = await chat(
    'key-alice',
    { model: 'testing', messages: [{ role: 'user', content: 'hello' }] },
    { 'x-session-id': 'my-editor-session-1' },
  );
  t.equal(res.res.status, 404);
  t.match(res.body, {
    error: {
      code: 'session_not_found',
      param: 'X-Session-ID',
      // Says why an id the gateway gave out can be unknown: its first answer never arrived whole.
      message: /once its client has received an answer whole, .*To start a new conversation, send no session id/,
    },
  });
  t.equal(stack.ollama.requests.length, before, 'the model was not called');
  t.notOk(
    await stack.db.selectFrom('sessions').selectAll().where('id', '=', 'my-editor-session-1').executeTakeFirst(),
    'no session was created',
  );
});

t.test("another key's session answers 404 and stores nothing", async (t) => {
  const alice = await chat('key-alice', { model: 'testing', messages: [{ role: 'user', content: 'secret' }] });
  const before = await stack.db
    .selectFrom('turns')
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  for (const id of [alice.body.conversation_id, alice.body.id]) {
    const bob = await chat(
      'key-bob',
      { model: 'testing', messages: [{ role: 'user', content: 'let me in' }] },
      { 'x-session-id': id },
    );
    t.equal(bob.res.status, 404);
    t.match(bob.body, { error: { code: 'session_not_found', type: 'invalid_request_error', param: 'X-Session-ID' } });
  }
  const after = await stack.db
    .selectFrom('turns')
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  t.equal(after.n, before.n);
});
