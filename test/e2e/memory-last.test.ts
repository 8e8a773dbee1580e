import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeMemoryLastReply, encodeJson, PROTOCOL_VERSION, subjectsFor } from '../../bus-schemas/index.js';
import { tenantOf } from '../../gateway/auth/bearer-auth.js';
import { AUTH, startStack, type TestStack } from '../helpers/stack.js';

const stack = await startStack({ env: { API_KEYS: 'key-a,key-b' } });
t.teardown(() => stack.close());

const as = (key: string) => ({ ...AUTH, authorization: `Bearer ${key}` });
const chat = async (on: TestStack, key: string, content: string, sessionId?: string) => {
  const headers = sessionId ? { ...as(key), 'x-session-id': sessionId } : as(key);
  const res = await fetch(`${on.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ model: 'documentation', messages: [{ role: 'user', content }] }),
  });
  if (res.status !== 200) throw new Error(`chat failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; conversation_id: string };
};
const last = async (query: string, headers: Record<string, string> = as('key-a'), on: TestStack = stack) => {
  const res = await fetch(`${on.baseUrl}/memory/last${query}`, { headers });
  return { res, body: await res.json() };
};

// One conversation of key-a with two turns, shared by the tests below.
stack.ollama.behave({ tokens: ['Paris', '.'] });
const first = await chat(stack, 'key-a', 'Capital of France?');
stack.ollama.behave({ tokens: ['About', ' 2M'] });
const second = await chat(stack, 'key-a', 'Population?', first.conversation_id);
const conversationId = first.conversation_id;

t.test('the last turns of a conversation, newest first, with every field', async (t) => {
  const { res, body } = await last(`?session=${conversationId}`);
  t.equal(res.status, 200);
  t.equal(body.object, 'list');
  t.equal(body.session_id, conversationId);
  t.same(
    body.data.map((turn: any) => turn.request_id),
    [second.id, first.id],
    'newest first',
  );
  const rows = await stack.db
    .selectFrom('turns')
    .selectAll()
    .where('session_id', '=', conversationId)
    .orderBy('id', 'desc')
    .execute();
  t.strictSame(body.data[0], {
    session_id: conversationId,
    request_id: second.id,
    user_input: 'Population?',
    assistant_response: 'About 2M',
    timestamp: rows[0]!.created_at,
    agent: 'documentation',
    model: 'llama3.2',
    cached: false,
    finish_reason: 'stop',
    prompt_tokens: 12,
    completion_tokens: rows[0]!.completion_tokens,
  });
  t.match(body.data[1], {
    request_id: first.id,
    user_input: 'Capital of France?',
    assistant_response: 'Paris.',
    cached: false,
  });
  for (const turn of body.data) t.equal(new Date(turn.timestamp).toISOString(), turn.timestamp, 'ISO 8601 timestamp');
  t.match(res.headers.get('x-request-id'), /^memq-/);
});

t.test("a turn that called a tool shows its calls, in OpenAI's shape", async (t) => {
  stack.ollama.behave({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Lima' } }] });
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: as('key-a'),
    body: JSON.stringify({
      model: 'documentation',
      messages: [{ role: 'user', content: 'Weather in Lima?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
    }),
  });
  const answer = await res.json();
  t.equal(answer.choices?.[0]?.finish_reason, 'tool_calls');
  const { body } = await last(`?session=${answer.conversation_id}`);
  t.same(body.data[0].tool_calls, answer.choices[0].message.tool_calls, 'the calls the client received');
  t.notOk('tool_calls' in (await last(`?session=${conversationId}`)).body.data[0], 'absent when none were made');
});

t.test('a completion id of the conversation resolves to the same conversation', async (t) => {
  const byConversation = await last(`?session=${conversationId}`);
  const byCompletion = await last(`?session=${first.id}`);
  t.equal(byCompletion.res.status, 200);
  t.strictSame(byCompletion.body, byConversation.body);
});

t.test('limit bounds the number of turns', async (t) => {
  const { res, body } = await last(`?session=${conversationId}&limit=1`);
  t.equal(res.status, 200);
  t.same(
    body.data.map((turn: any) => turn.request_id),
    [second.id],
  );
});

t.test("another key's session answers 404, exactly as an unknown id does", async (t) => {
  const unknown = await last('?session=conv_nobody_has_this', as('key-b'));
  t.equal(unknown.res.status, 404);
  t.match(unknown.body, { error: { code: 'session_not_found', type: 'invalid_request_error', param: 'session' } });
  const withoutId = (body: any, id: string) => ({ ...body.error, message: body.error.message.replace(id, '<id>') });
  for (const id of [conversationId, first.id]) {
    const other = await last(`?session=${id}`, as('key-b'));
    t.equal(other.res.status, 404, id);
    t.strictSame(
      withoutId(other.body, id),
      withoutId(unknown.body, 'conv_nobody_has_this'),
      'same answer as an unknown id',
    );
    t.equal(other.res.headers.get('x-should-retry'), unknown.res.headers.get('x-should-retry'));
  }
});

t.test('a bad querystring is a 400 in the OpenAI error shape, naming the parameter', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['', 'session', /session is required/],
    ['?session=', 'session', /session must match pattern/],
    ['?session=has%20space', 'session', /session must match pattern/],
    [`?session=${'x'.repeat(129)}`, 'session', /session must match pattern/],
    [`?session=${conversationId}&session=${first.id}`, 'session', /"session" was given more than once/],
    [`?session=${conversationId}&limit=0`, 'limit', /limit must be at least 1/],
    [`?session=${conversationId}&limit=101`, 'limit', /limit must be at most 100/],
    [`?session=${conversationId}&limit=abc`, 'limit', /limit must be an integer/],
    [`?session=${conversationId}&limit=1.5`, 'limit', /limit must be an integer/],
    [`?session=${conversationId}&limit=`, 'limit', /limit must be an integer/],
    [`?session=${conversationId}&limit=1&limit=2`, 'limit', /"limit" was given more than once; send it once/],
    // Number() and ajv's coercion read these as 16, 10, 1 and 5; no client means them so.
    ...['0x10', '1e1', '%2B1', '%205'].map((limit): [string, string, RegExp] => [
      `?session=${conversationId}&limit=${limit}`,
      'limit',
      /limit must be an integer, written in decimal digits/,
    ]),
    [`?session=${conversationId}&order=asc`, 'order', /order is not allowed/],
  ];
  for (const [query, param, message] of cases) {
    const { res, body } = await last(query);
    t.equal(res.status, 400, `${query}: status`);
    t.match(body, { error: { code: 'invalid_request', type: 'invalid_request_error', param, message } }, query);
  }
});

t.test('the route needs an API key', async (t) => {
  for (const headers of [{}, { authorization: 'Bearer wrong' }] as Array<Record<string, string>>) {
    const { res, body } = await last(`?session=${conversationId}`, headers);
    t.equal(res.status, 401);
    t.equal(body.error.code, 'invalid_api_key');
  }
});

t.test('the worker answers memory queries on the bus, invalid ones with an error reply', async (t) => {
  const subject = subjectsFor(stack.config.subjectPrefix).memoryLast;
  const ask = async (payload: unknown) =>
    decodeMemoryLastReply(
      (
        await stack.bus.request(
          subject,
          typeof payload === 'string' ? new TextEncoder().encode(payload) : encodeJson(payload),
          { timeoutMs: 5000 },
        )
      ).data,
    );
  const memoryStats = async () => {
    const stats = await stack.workers[0]!.service.stats();
    return stats.endpoints?.find((endpoint) => endpoint.name === 'memory') as {
      subject: string;
      queue_group: string;
      data: { in_flight: number; answered: number; failed: Record<string, number> };
    };
  };
  const before = structuredClone((await memoryStats()).data);
  const valid = {
    v: PROTOCOL_VERSION,
    request_id: 'memq-test-1',
    tenant: tenantOf('key-a'),
    session: conversationId,
    limit: 2,
  };
  t.match(await ask(valid), {
    type: 'turns',
    request_id: 'memq-test-1',
    session_id: conversationId,
    turns: [{ request_id: second.id }, { request_id: first.id }],
  });
  t.match(await ask('{nope'), {
    type: 'error',
    request_id: 'unknown',
    error: { code: 'invalid_envelope', message: /not JSON/ },
  });
  t.match(await ask({ ...valid, limit: 500 }), { type: 'error', error: { code: 'invalid_envelope', param: 'limit' } });
  t.match(await ask({ ...valid, v: 99 }), { type: 'error', error: { code: 'invalid_envelope', param: 'v' } });
  t.match(await ask({ ...valid, tenant: tenantOf('key-b') }), {
    type: 'error',
    request_id: 'memq-test-1',
    error: { code: 'session_not_found', status: 404 },
  });

  const after = await memoryStats();
  t.equal(after.subject, subject);
  t.equal(after.queue_group, 'memory');
  const failed = (code: string) => (after.data.failed[code] ?? 0) - (before.failed[code] ?? 0);
  t.same(
    [
      after.data.answered - before.answered,
      failed('invalid_envelope'),
      failed('session_not_found'),
      after.data.in_flight,
    ],
    [1, 3, 1, 0],
    'counted per error code in the endpoint data',
  );
});

t.test('no worker running → 503 no_worker at once', async (t) => {
  const bare = await startStack({ workerAgents: false });
  t.teardown(() => bare.close());
  const { res, body } = await last('?session=conv_x', AUTH, bare);
  t.equal(res.status, 503);
  // no_worker comes from NATS's no-responders answer at once; a wait for the query's timeout
  // would have ended in deadline_exceeded (504).
  t.match(body, { error: { code: 'no_worker', type: 'server_error' } }, 'no timeout was waited for');
  t.equal(res.headers.get('x-should-retry'), 'true');
});

t.test('turns too large for the bus together → 413 naming limit; fewer still work', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-natsconf-'));
  const conf = join(dir, 'small.conf');
  writeFileSync(conf, 'max_payload: 4KB\njetstream {}\n');
  const small = await startStack({ natsConfigFile: conf });
  t.teardown(async () => {
    await small.close();
    rmSync(dir, { recursive: true, force: true });
  });
  small.ollama.behave({ tokens: ['x'.repeat(2500)] });
  const one = await chat(small, 'local-only', 'long one');
  await chat(small, 'local-only', 'long two', one.conversation_id);
  const both = await last(`?session=${one.conversation_id}`, AUTH, small);
  t.equal(both.res.status, 413);
  t.match(both.body, { error: { code: 'request_too_large', param: 'limit', message: /smaller limit/ } });
  const fewer = await last(`?session=${one.conversation_id}&limit=1`, AUTH, small);
  t.equal(fewer.res.status, 200);
  t.equal(fewer.body.data.length, 1);
});
