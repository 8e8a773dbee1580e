import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeChatRequest, type ChatRequest } from '../../bus-schemas/index.js';
import { createKey } from '../helpers/keys-cli.js';
import { startStack } from '../helpers/stack.js';
import { openLiveClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';

// Keys from a keys file made with the real CLI: a key limited to two agents, a private key, and
// two unlimited ones whose sessions must stay apart. All "unlimited": rate limits are not the point.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-scopes-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const keysFile = join(dir, 'keys.json');
const scoped = await createKey(keysFile, [
  '--name',
  'reviewer',
  '--agents',
  'code_review,testing',
  '--tier',
  'unlimited',
]);
const privateKey = await createKey(keysFile, ['--name', 'secretive', '--private', '--tier', 'unlimited']);
const alice = await createKey(keysFile, ['--name', 'alice', '--tier', 'unlimited']);
const bob = await createKey(keysFile, ['--name', 'bob', '--tier', 'unlimited']);
const stack = await startStack({ env: { KEYS_FILE: keysFile } });
t.teardown(() => stack.close());

const headers = (key: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${key}`,
  'content-type': 'application/json',
  ...extra,
});
const post = async (key: string, path: string, body: unknown, extra: Record<string, string> = {}) => {
  const res = await fetch(`${stack.baseUrl}${path}`, {
    method: 'POST',
    headers: headers(key, extra),
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
};
const get = async (key: string, path: string) => {
  const res = await fetch(`${stack.baseUrl}${path}`, { headers: headers(key) });
  return { status: res.status, body: await res.json() };
};
const hi = [{ role: 'user', content: 'hello' }];
const refused = {
  error: { code: 'agent_not_allowed', type: 'invalid_request_error', param: 'model', message: /may not call/ },
};

t.beforeEach(() => stack.ollama.behave({ tokens: ['Hi', ' there'], firstTokenDelayMs: 0, tokenDelayMs: 0 }));

t.test('a key calling an agent outside its scope gets 403, on every HTTP route', async (t) => {
  t.equal(
    (await post(scoped, '/v1/chat/completions', { model: 'code_review', messages: hi })).status,
    200,
    'inside the scope',
  );
  const cases: Array<[string, unknown]> = [
    ['/v1/chat/completions', { model: 'documentation', messages: hi }],
    ['/v1/chat/completions', { model: 'documentation', stream: true, messages: hi }],
    ['/agents/documentation/v1/chat/completions', { messages: hi }],
    ['/agents/documentation/query', { query: 'hello' }],
    ['/query', { query: 'hello', agent: 'documentation' }],
    ['/api/generate', { model: 'documentation', prompt: 'hello', stream: false }],
  ];
  for (const [path, body] of cases) {
    const res = await post(scoped, path, body);
    t.equal(res.status, 403, path);
    // `/query` names the agent in `agent`, not in `model`: the refusal says so.
    const param = (body as { agent?: string }).agent === undefined ? 'model' : 'agent';
    t.match(res.body, { error: { ...refused.error, param } }, path);
  }
  t.equal(stack.ollama.requests.length, 1, 'no refused request reached a model');
});

t.test("stored responses: any of the key's on its agents' base URLs, 403 on another agent's", async (t) => {
  const created = await post(scoped, '/agents/code_review/v1/responses', { input: 'hello' });
  t.equal(created.status, 200);
  const id = created.body.id as string;
  t.equal((await get(scoped, `/agents/testing/v1/responses/${id}`)).status, 200, 'whichever agent answered it');
  t.equal((await get(scoped, `/v1/responses/${id}`)).status, 200);
  const base = '/agents/documentation/v1';
  const calls: Array<[string, string]> = [
    ['GET', `${base}/responses/${id}`],
    ['GET', `${base}/responses/${id}/input_items`],
    ['POST', `${base}/responses/${id}/cancel`],
    ['DELETE', `${base}/responses/${id}`],
    ['GET', `${base}/models`],
  ];
  for (const [method, url] of calls) {
    const res = await fetch(`${stack.baseUrl}${url}`, { method, headers: { authorization: `Bearer ${scoped}` } });
    t.equal(res.status, 403, `${method} ${url}`);
    t.match(await res.json(), refused, `${method} ${url}`);
  }
  t.equal((await get(scoped, `/v1/responses/${id}`)).status, 200, 'the refused DELETE deleted nothing');
});

t.test('routing (model "auto") never answers with an agent outside the scope', async (t) => {
  // "hello" matches no rule: the table's default agent (documentation) would answer.
  const res = await post(scoped, '/v1/chat/completions', { model: 'auto', messages: hi });
  t.equal(res.status, 403);
  t.match(res.body, {
    error: {
      code: 'agent_not_allowed',
      message:
        /router \(default\) chose no agent this API key \("reviewer"\) may call\. Name an agent it may call: code_review, testing/,
    },
  });
  t.notMatch(res.body.error.message, /documentation/, 'the refusal does not name the agent outside the scope');
  t.equal(
    (await post(alice, '/v1/chat/completions', { model: 'auto', messages: hi })).status,
    200,
    'a key with every agent is routed as before',
  );
});

// The code_block rule routes to code_generation and code_review; the scoped key has only the second.
const codeBlock = [{ role: 'user', content: '```js\nconst x = 1;\n```' }];

t.test('routing: agents outside the scope are dropped without being named in meta.routing', async (t) => {
  const res = await post(scoped, '/v1/chat/completions', { model: 'auto', messages: codeBlock });
  t.equal(res.status, 200);
  t.same(res.body.meta.routing.agents, ['code_review']);
  t.match(res.body.meta.routing.reason, /left out, outside this key's scope: 1 agent\(s\)/);
  t.notMatch(JSON.stringify(res.body.meta.routing), /code_generation/, 'the dropped agent is not named');
  const full = await post(alice, '/v1/chat/completions', { model: 'auto', messages: codeBlock });
  t.same(full.body.meta.routing.agents, ['code_generation', 'code_review'], 'a key with every agent gets both');
});

t.test("routing with tools: the first of the router's agents the key may call answers, not a 403", async (t) => {
  const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }];
  const res = await post(scoped, '/v1/chat/completions', { model: 'auto', messages: codeBlock, tools });
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.same(res.body.meta.routing.agents, ['code_review']);
  t.match(res.body.meta.routing.reason, /the request has tools, so only code_review answers/);
});

t.test('an unknown model lists only the agents the key may call', async (t) => {
  const chat = await post(scoped, '/v1/chat/completions', { model: 'no_such_agent', messages: hi });
  t.equal(chat.status, 404);
  t.match(chat.body, { error: { code: 'model_not_found', message: /Known agents: code_review, testing;/ } });
  const model = await get(scoped, '/v1/models/no_such_agent');
  t.equal(model.status, 404);
  t.match(model.body, {
    error: { code: 'model_not_found', message: /Known agents: code_review, testing, and "auto"/ },
  });
  for (const body of [chat.body, model.body])
    t.notMatch(body.error.message, /documentation|code_generation|deployment/, 'no agent outside the scope');
  t.match(
    (await post(alice, '/v1/chat/completions', { model: 'no_such_agent', messages: hi })).body.error.message,
    /documentation/,
    'a key with every agent sees them all',
  );
});

t.test("a named agent outside the scope (403) or unknown (404) spends none of the key's rate budget", async (t) => {
  const limited = await createKey(keysFile, ['--name', 'limited', '--agents', 'testing', '--tier', 'standard']);
  const remaining = async () => {
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: headers(limited),
      body: JSON.stringify({ model: 'testing', messages: hi }),
    });
    t.equal(res.status, 200);
    await res.text();
    return Number(res.headers.get('x-ratelimit-remaining-requests'));
  };
  await waitFor(
    'the new key',
    async () => (await fetch(`${stack.baseUrl}/v1/models`, { headers: headers(limited) })).status === 200,
  );
  const before = await remaining();
  for (const [path, body] of [
    ['/v1/chat/completions', { model: 'documentation', messages: hi }],
    ['/agents/documentation/v1/chat/completions', { messages: hi }],
    ['/v1/chat/completions', { model: 'no_such_agent', messages: hi }],
  ] as const) {
    const res = await fetch(`${stack.baseUrl}${path}`, {
      method: 'POST',
      headers: headers(limited),
      body: JSON.stringify(body),
    });
    t.ok(res.status === 403 || res.status === 404, `${path}: ${res.status}`);
    t.equal(res.headers.get('x-ratelimit-remaining-requests'), null, 'refused before admission: no rate-limit headers');
    await res.text();
  }
  t.equal(await remaining(), before - 1, 'only the two admitted requests took a token');
});

t.test('/v1/models lists only the agents the key may call', async (t) => {
  const list = await get(scoped, '/v1/models');
  t.same(
    list.body.data.map((model: { id: string }) => model.id),
    ['code_review', 'testing', 'auto'],
  );
  const aliases = stack.catalog.agents.flatMap((agent) => [
    ...(agent.speech?.aliases ?? []),
    ...(agent.transcription?.aliases ?? []),
  ]);
  t.equal((await get(alice, '/v1/models')).body.data.length, stack.catalog.agents.length + aliases.length + 1);
  t.match(await get(scoped, '/v1/models/documentation'), { status: 403, body: refused });
  t.equal((await get(scoped, '/v1/models/testing')).status, 200);
  // Under a per-agent base URL the key may not use: the 403 of every route there, not an empty list.
  t.match(await get(scoped, '/agents/documentation/v1/models'), { status: 403, body: refused });
  for (const model of ['documentation', 'xyz', 'auto', 'testing'])
    t.match(await get(scoped, `/agents/documentation/v1/models/${model}`), { status: 403, body: refused }, model);
  t.match((await get(scoped, '/agents/testing/v1/models')).body.data, [{ id: 'testing' }]);
});

t.test('over WebSocket: an error frame for that request, and the socket carries on', async (t) => {
  const client = await openLiveClient(stack.baseUrl, { authFrameKey: scoped });
  t.teardown(() => client.close());
  const ready = (await client.next((frame) => frame.type === 'ready')) as { agents: Array<{ name: string }> };
  t.same(
    ready.agents.map((agent) => agent.name),
    ['code_review', 'testing'],
    'ready lists the scope',
  );
  client.send({ type: 'chat', id: 'no', agent: 'documentation', messages: hi });
  const { terminal } = await client.finish('no');
  t.match(terminal, { type: 'error', id: 'no', error: { code: 'agent_not_allowed', param: 'agent' } });
  client.send({ type: 'chat', id: 'yes', agent: 'testing', messages: hi });
  t.match((await client.finish('yes')).terminal, { type: 'done' }, 'the socket still works');
  t.same(client.invalidFrames, []);
});

t.test('a private key makes every request private', async (t) => {
  const envelopes: ChatRequest[] = [];
  const sub = stack.bus.subscribe('agents.documentation.chat', {
    callback: (_err, msg) => {
      envelopes.push(decodeChatRequest(msg.data));
    },
  });
  t.teardown(() => sub.unsubscribe());
  await stack.bus.flush();
  t.equal((await post(privateKey, '/v1/chat/completions', { model: 'documentation', messages: hi })).status, 200);
  await waitFor('the envelope', () => envelopes.length === 1);
  t.equal(envelopes[0]!.private, true, 'private by the key');
  t.equal((await post(alice, '/v1/chat/completions', { model: 'documentation', messages: hi })).status, 200);
  await waitFor('the envelope', () => envelopes.length === 2);
  t.equal(envelopes[1]!.private, undefined, "another key's request is not");
});

/** The body with the session id asked for replaced, so two answers compare whole. */
const withoutId = (body: unknown, id: string) => JSON.parse(JSON.stringify(body).replaceAll(id, '<id>'));

t.test("probing another key's session answers exactly as a session that does not exist", async (t) => {
  const own = await post(alice, '/v1/chat/completions', { model: 'documentation', messages: hi });
  t.equal(own.status, 200);
  const session = own.body.conversation_id ?? own.body.id;
  const missing = 'conv_does_not_exist_anywhere';

  const probe = async (id: string) =>
    post(bob, '/v1/chat/completions', { model: 'documentation', messages: hi }, { 'x-session-id': id });
  const [foreign, none] = [await probe(session), await probe(missing)];
  t.equal(foreign.status, 404);
  t.same(withoutId(foreign.body, session), withoutId(none.body, missing), 'X-Session-ID: the same 404');

  const last = async (id: string) => get(bob, `/memory/last?session=${id}&limit=1`);
  const [foreignLast, noneLast] = [await last(session), await last(missing)];
  t.equal(foreignLast.status, 404);
  t.same(withoutId(foreignLast.body, session), withoutId(noneLast.body, missing), '/memory/last: the same 404');
  t.equal((await get(alice, `/memory/last?session=${session}&limit=1`)).status, 200, 'the owner reads it');

  const client = await openLiveClient(stack.baseUrl, { headerKey: bob });
  t.teardown(() => client.close());
  await client.next((frame) => frame.type === 'ready');
  client.send({ type: 'chat', id: 'p1', agent: 'documentation', session_id: session, messages: hi });
  client.send({ type: 'chat', id: 'p2', agent: 'documentation', session_id: missing, messages: hi });
  const a = (await client.finish('p1')).terminal;
  const b = (await client.finish('p2')).terminal;
  t.match(a, { type: 'error', error: { code: 'session_not_found' } });
  t.same(
    withoutId({ ...a, id: 'x' }, session),
    withoutId({ ...b, id: 'x' }, missing),
    'WebSocket: the same error frame',
  );
  t.equal(
    (await stack.db.selectFrom('turns').select('request_id').where('session_id', '=', session).execute()).length,
    1,
    'nothing was added to the session',
  );
});
