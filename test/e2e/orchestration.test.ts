import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeChatRequest, type ChatRequest } from '../../bus-schemas/index.js';
import { DEFAULT_AGENTS_FILE } from '../../common/catalog.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { parseSse, sseJson } from '../helpers/sse.js';
import { traceLine } from '../helpers/trace-lines.js';
import { waitFor } from '../helpers/wait.js';
import { openLiveClient } from '../helpers/ws-client.js';

// A catalog with the orchestration settings under test, and a routing table with a fan-out
// rule and an aggregated one. The worker serves every agent but voice_processor, so that
// agent has no responders and falls back.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-orchestration-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const shipped = JSON.parse(readFileSync(DEFAULT_AGENTS_FILE, 'utf8')) as { agents: Array<Record<string, unknown>> };
const overrides: Record<string, Record<string, unknown>> = {
  testing: { fallback: 'documentation' },
  deployment: { timeouts: { first_token_ms: 400 } },
  voice_processor: { fallback: 'documentation' },
  bengali_nlp: { model: 'missing-model' },
};
const agentsFile = join(dir, 'agents.json');
writeFileSync(
  agentsFile,
  JSON.stringify({ agents: shipped.agents.map((agent) => ({ ...agent, ...overrides[agent.name as string] })) }),
);
const routingFile = join(dir, 'routing.json');
writeFileSync(
  routingFile,
  JSON.stringify({
    default: 'documentation',
    classifier: { agent: 'documentation', timeout_ms: 2000 },
    rules: [
      // Before 'pair': the first matching rule wins.
      { name: 'pair-with-failure', agents: ['code_generation', 'bengali_nlp'], keywords: ['broken pair'] },
      { name: 'pair', agents: ['code_generation', 'code_review'], keywords: ['pair'] },
      {
        name: 'synthesis',
        agents: ['code_generation', 'code_review'],
        aggregator: 'documentation',
        keywords: ['synthesise'],
      },
    ],
  }),
);

const stack = await startStack({
  env: {
    AGENTS_FILE: agentsFile,
    ROUTING_FILE: routingFile,
    REQUEST_TIMEOUT_MS: '5000',
    HEARTBEAT_MS: '200',
    PRIVATE_API_KEYS: 'private-key',
  },
  workerAgents: ['bengali_nlp', 'code_generation', 'code_review', 'documentation', 'testing', 'deployment'],
});
t.teardown(() => stack.close());

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, ...headers },
    body: JSON.stringify(body),
  });
const user = (content: string) => [{ role: 'user', content }];
const turnIds = async () => await stack.db.selectFrom('turns').select(['request_id', 'agent']).execute();

/** Envelopes as workers see them, read off the bus with a plain subscription. */
const envelopes: ChatRequest[] = [];
const tap = stack.bus.subscribe('agents.documentation.chat', {
  callback: (_err, msg) => {
    try {
      envelopes.push(decodeChatRequest(msg.data));
    } catch {
      // not a chat envelope
    }
  },
});
t.teardown(() => tap.unsubscribe());
await stack.bus.flush();

t.beforeEach(() => {
  stack.ollama.behave({
    tokens: ['Hello', ' from', ' the', ' fake', ' model', '.'],
    firstTokenDelayMs: 0,
    tokenDelayMs: 0,
  });
  stack.ollama.requests.length = 0;
  envelopes.length = 0;
});

t.test('an agent named by the model: meta.routing says so', async (t) => {
  const res = await post({ model: 'code_review', messages: user('hi') });
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.same(body.meta.routing, { agents: ['code_review'], by: 'model', reason: 'the request names the agent' });
  t.equal(body.model, 'code_review');
  t.notOk(body.meta.fallback, 'no fallback taken');
});

t.test('model "auto": the routing table decides, the default when nothing matches', async (t) => {
  const res = await post({ model: 'auto', messages: user('what is a monad?') });
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.equal(body.meta.routing.by, 'default');
  t.same(body.meta.routing.agents, ['documentation']);
  t.equal(body.meta.agent, 'documentation');
  t.equal(body.model, 'documentation');
});

t.test('fan-out, non-streaming: one message with a titled section per agent, both turns stored', async (t) => {
  const res = await post({ model: 'auto', messages: user('pair on this please') });
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.equal(body.meta.routing.rule, 'pair');
  t.same(body.meta.routing.agents, ['code_generation', 'code_review']);
  t.equal(
    body.choices[0].message.content,
    '## code_generation\n\nHello from the fake model.\n\n## code_review\n\nHello from the fake model.',
  );
  t.same(
    body.meta.agents.map((part: any) => [part.agent, part.status]),
    [
      ['code_generation', 'ok'],
      ['code_review', 'ok'],
    ],
  );
  t.ok(
    body.meta.agents.every((part: any) => Number.isInteger(part.processing_ms) && part.usage.completion_tokens > 0),
    'each part has timing and tokens',
  );
  t.equal(
    body.usage.completion_tokens,
    body.meta.agents[0].usage.completion_tokens + body.meta.agents[1].usage.completion_tokens,
    'usage is the sum',
  );
  t.equal(body.model, 'code_generation+code_review');
  t.equal(stack.ollama.requests.length, 2, 'both agents were asked');
  const stored = (await turnIds()).filter((turn) => turn.request_id.startsWith(body.id));
  t.same(
    stored.map((turn) => turn.request_id).sort(),
    [body.id, `${body.id}.code_review`].sort(),
    "the first agent's turn carries the completion id",
  );

  // The completion id continues the conversation, with both agents' turns as history.
  const next = await post({ model: 'code_review', messages: user('and now?') }, { 'x-session-id': body.id });
  t.equal(next.status, 200);
  t.equal((await next.json()).meta.memory_used, true);
});

t.test('fan-out with one agent failing: a partial answer that says which part failed, not a 5xx', async (t) => {
  const res = await post({ model: 'auto', messages: user('a broken pair of agents') });
  t.equal(res.status, 200);
  const body: any = await res.json();
  const content: string = body.choices[0].message.content;
  t.match(
    content,
    /^## code_generation\n\nHello from the fake model\.\n\n## bengali_nlp\n\n_\(bengali_nlp failed: .*missing-model.*\)_$/s,
  );
  t.same(
    body.meta.agents.map((part: any) => [part.agent, part.status]),
    [
      ['code_generation', 'ok'],
      ['bengali_nlp', 'error'],
    ],
  );
  t.equal(body.meta.agents[1].error.code, 'backend_model_not_found');
});

t.test('fan-out, streaming, with one agent failing: its section says so, and the stream still completes', async (t) => {
  const res = await post({ model: 'auto', stream: true, messages: user('a broken pair, streamed') });
  t.equal(res.status, 200);
  const { events } = parseSse(await res.text());
  t.equal(events.at(-1)?.data, '[DONE]');
  const chunks = sseJson(events);
  const text = chunks.map((chunk) => chunk.choices?.[0]?.delta?.content ?? '').join('');
  t.match(
    text,
    /^## code_generation\n\nHello from the fake model\.\n\n## bengali_nlp\n\n_\(bengali_nlp failed: .*missing-model.*\)_$/s,
  );
  const final = chunks.find((chunk) => chunk.meta);
  t.same(
    final.meta.agents.map((part: any) => [part.agent, part.status]),
    [
      ['code_generation', 'ok'],
      ['bengali_nlp', 'error'],
    ],
  );
});

t.test('fan-out, streaming: sections in route order, nothing lost from the agent that finished first', async (t) => {
  // Both agents stream at once; code_review's tokens arrive while code_generation's section is
  // still open and must be held, not dropped or interleaved.
  stack.ollama.behave({ tokens: ['one', ' two', ' three', ' four'], tokenDelayMs: 40 });
  const res = await post({ model: 'auto', stream: true, messages: user('pair on this') });
  t.equal(res.status, 200);
  const { events } = parseSse(await res.text());
  t.equal(events.at(-1)?.data, '[DONE]', 'a complete stream ends with [DONE]');
  const chunks = sseJson(events);
  const text = chunks.map((chunk) => chunk.choices?.[0]?.delta?.content ?? '').join('');
  t.equal(text, '## code_generation\n\none two three four\n\n## code_review\n\none two three four');
  const final = chunks.find((chunk) => chunk.meta);
  t.same(
    final.meta.agents.map((part: any) => part.status),
    ['ok', 'ok'],
  );
  t.equal(final.meta.routing.rule, 'pair');
});

t.test('aggregator: the parts are combined by the aggregator agent, whose text is the answer', async (t) => {
  const res = await post({ model: 'auto', messages: user('synthesise an answer') });
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.equal(body.choices[0].message.content, 'Hello from the fake model.');
  t.equal(body.meta.routing.aggregator, 'documentation');
  t.same(
    body.meta.agents.map((part: any) => part.agent),
    ['code_generation', 'code_review', 'documentation'],
  );
  t.equal(stack.ollama.requests.length, 3);
  const brief = stack.ollama.requests[2]!.messages.find(
    (message) => message.role === 'system' && message.content.includes('## code_review'),
  );
  t.ok(brief, 'the aggregator saw each part under its title');
  const stored = (await turnIds()).filter((turn) => turn.request_id === `${body.id}.aggregate`);
  t.equal(stored.length, 1, "the aggregator's turn is stored too");
});

t.test('Responses aggregator: the brief and the instructions reach it, and neither is stored', async (t) => {
  for (const instructions of [undefined, 'Be brief.']) {
    stack.ollama.requests.length = 0;
    const res = await fetch(`${stack.baseUrl}/v1/responses`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'auto', input: 'synthesise an answer', ...(instructions ? { instructions } : {}) }),
    });
    t.equal(res.status, 200);
    const body: any = await res.json();
    const systems = stack.ollama.requests[2]!.messages.filter((message) => message.role === 'system');
    t.equal(systems.length, 1, 'one system message');
    t.ok(systems[0]?.content.includes('## code_review'), 'the brief joins the system prompt');
    if (instructions) t.ok(systems[0]?.content.endsWith(instructions), 'with the instructions');
    const [stored] = await stack.db
      .selectFrom('turns')
      .select('input_messages')
      .where('request_id', '=', `${body.id}.aggregate`)
      .execute();
    t.same(JSON.parse(stored!.input_messages), [{ role: 'user', content: 'synthesise an answer' }], 'the input alone');
  }
});

t.test(
  "backend 500 before the first token: one retry, then the agent's fallback, visible in meta.fallback",
  async (t) => {
    stack.ollama.behaveInTurn([
      { failWith: { status: 500, message: 'boom' } },
      { failWith: { status: 500, message: 'boom again' } },
    ]);
    const res = await post({ model: 'testing', messages: user('hi') });
    t.equal(res.status, 200);
    const body: any = await res.json();
    t.same(body.meta.fallback, [
      { kind: 'retry', from: 'testing', to: 'testing', reason: 'backend_error' },
      { kind: 'agent', from: 'testing', to: 'documentation', reason: 'backend_error' },
    ]);
    t.equal(body.meta.agent, 'documentation', 'the fallback agent answered');
    t.equal(stack.ollama.requests.length, 3);
    t.equal((await turnIds()).filter((turn) => turn.request_id === body.id).length, 1, 'one turn for the request');
    t.ok(
      stack.logs.lines.some((line) => line.msg?.toString().includes('falling back to documentation')),
      'the fallback is logged',
    );
  },
);

t.test('a retry that succeeds needs no fallback', async (t) => {
  stack.ollama.behaveInTurn([{ failWith: { status: 503, message: 'busy' } }]);
  const res = await post({ model: 'testing', stream: true, messages: user('hi') });
  const chunks = sseJson(parseSse(await res.text()).events);
  const final = chunks.find((chunk) => chunk.meta);
  t.same(final.meta.fallback, [{ kind: 'retry', from: 'testing', to: 'testing', reason: 'backend_error' }]);
  t.equal(final.meta.agent, 'testing');
});

t.test("no first token within the agent's first_token_ms: the request is retried, the slow call aborted", async (t) => {
  // Slower than the whole 5 s REQUEST_TIMEOUT_MS: an answer can only come from the retry.
  stack.ollama.behaveInTurn([{ firstTokenDelayMs: 30_000 }]);
  const res = await post({ model: 'deployment', messages: user('hi') });
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.same(body.meta.fallback, [{ kind: 'retry', from: 'deployment', to: 'deployment', reason: 'first_token_timeout' }]);
  t.equal(body.choices[0].message.content, 'Hello from the fake model.', 'answered by the retry, not the slow call');
  // Aborted, not finished: the answer did not wait for the slow call.
  await waitFor('the slow backend call to be aborted', () => stack.ollama.requests[0]?.aborted === true);
});

t.test(
  'a non-streamed answer that starts in time is not cut by the first-token limit, however long it takes',
  async (t) => {
    // 6 tokens × 120 ms: longer than deployment's 400 ms first-token limit, but the first comes at once.
    stack.ollama.behave({ tokenDelayMs: 120 });
    const res = await post({ model: 'deployment', messages: user('hi') });
    t.equal(res.status, 200);
    const body: any = await res.json();
    t.notOk(body.meta.fallback, 'no retry');
    t.equal(body.choices[0].message.content, 'Hello from the fake model.');
    t.equal(stack.ollama.requests.length, 1);
  },
);

t.test('no responders: retried once, then the fallback agent answers', async (t) => {
  const res = await post({ model: 'voice_processor', messages: user('hi') });
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.same(
    body.meta.fallback.map((step: any) => [step.kind, step.to, step.reason]),
    [
      ['retry', 'voice_processor', 'no_worker'],
      ['agent', 'documentation', 'no_worker'],
    ],
  );
  t.equal(body.meta.agent, 'documentation');
});

t.test('after the first token nothing is retried: the stream ends in an error', async (t) => {
  stack.ollama.behaveInTurn([{ dieAfterTokens: 2, tokenDelayMs: 20 }]);
  const res = await post({ model: 'testing', stream: true, messages: user('hi') });
  const { events } = parseSse(await res.text());
  t.notOk(
    events.some((event) => event.data === '[DONE]'),
    'no [DONE]: the answer is incomplete',
  );
  t.ok(
    events.some((event) => event.event === 'error'),
    'an error event',
  );
  t.equal(stack.ollama.requests.length, 1, 'the backend was asked once');
});

t.test('request metadata travels in the envelope: priority, privacy, the timeout hint', async (t) => {
  const res = await post(
    { model: 'documentation', messages: user('hi') },
    { 'x-priority': 'high', 'x-private': 'true', 'x-request-timeout-ms': '3000' },
  );
  t.equal(res.status, 200);
  await waitFor('the envelope on the bus', () => envelopes.length > 0);
  const envelope = envelopes[0]!;
  t.equal(envelope.priority, 'high');
  t.equal(envelope.private, true);
  t.ok(envelope.timeout_ms <= 3000, 'the hint shortens the timeout');
  t.match(envelope.tenant, /^[A-Za-z0-9._:-]+$/, 'the key id travels as the tenant (a hash, never the key)');
  t.ok(envelope.traceparent, 'trace context');

  // A key in PRIVATE_API_KEYS makes every request of its own private, without a header.
  envelopes.length = 0;
  const byKey = await post({ model: 'documentation', messages: user('hi') }, { authorization: 'Bearer private-key' });
  t.equal(byKey.status, 200);
  await waitFor('the envelope on the bus', () => envelopes.length > 0);
  t.equal(envelopes[0]!.private, true, 'private by the key');
  envelopes.length = 0;
  t.equal((await post({ model: 'documentation', messages: user('hi') })).status, 200);
  await waitFor('the envelope on the bus', () => envelopes.length > 0);
  t.equal(envelopes[0]!.private, undefined, "another key's request is not");

  const bad = await post({ model: 'documentation', messages: user('hi') }, { 'x-priority': 'urgent' });
  t.equal(bad.status, 400);
  t.equal((await bad.json()).error.param, 'X-Priority');
});

t.test('a secret in the input makes the request private and is redacted from the trace log', async (t) => {
  const secret = `sk-proj-${'a1B2'.repeat(8)}`;
  const res = await post({ model: 'documentation', messages: user(`my key is ${secret}, why does it fail?`) });
  t.equal(res.status, 200);
  const body: any = await res.json();
  await waitFor('the envelope on the bus', () => envelopes.length > 0);
  t.equal(envelopes[0]!.private, true, 'pinned to local providers');
  const line = await traceLine(stack.config.logDir, 'documentation', body.id);
  t.match(line.prompt, /\[REDACTED:openai_key\]/);
  t.notMatch(JSON.stringify(stack.logs.lines), secret, 'no log line holds the secret');
});

t.test(
  'WebSocket: a chat frame naming no agent is routed, a fan-out streams its sections, cancel stops every part',
  async (t) => {
    const client = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
    t.teardown(() => client.close());
    await client.next((frame) => frame.type === 'ready');
    client.send({ type: 'chat', id: 'f1', messages: user('pair with me'), private: true, priority: 'low' });
    const { text, terminal } = await client.finish('f1');
    t.equal(text, '## code_generation\n\nHello from the fake model.\n\n## code_review\n\nHello from the fake model.');
    t.equal(terminal.type, 'done');
    const meta = (terminal as any).meta;
    t.equal(meta.routing.rule, 'pair');
    t.same(
      meta.agents.map((part: any) => part.status),
      ['ok', 'ok'],
    );

    // Slow parts, then a cancel: both backend calls are aborted and the request ends cancelled.
    stack.ollama.requests.length = 0;
    stack.ollama.behave({ tokens: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], tokenDelayMs: 200 });
    client.send({ type: 'chat', id: 'f2', messages: user('pair again') });
    await waitFor('both parts to reach the backend', () => stack.ollama.requests.length === 2);
    client.send({ type: 'cancel', id: 'f2' });
    const cancelled = await client.finish('f2', 5000);
    t.equal(cancelled.terminal.type, 'error');
    t.equal((cancelled.terminal as any).error.code, 'request_cancelled');
    await waitFor('both backend calls to be aborted', () => stack.ollama.requests.every((request) => request.aborted));
    t.same(client.invalidFrames, [], 'every server frame matched its schema');
  },
);

t.test('the aggregator fails after its first token: the answer ends cut, never as complete', async (t) => {
  // Two parts answer normally, then the aggregator (the third request) dies mid-stream.
  stack.ollama.behaveInTurn([{}, {}, { dieAfterTokens: 2, tokenDelayMs: 20 }]);
  const res = await post({ model: 'auto', stream: true, messages: user('synthesise this') });
  const { events } = parseSse(await res.text());
  t.notOk(
    events.some((event) => event.data === '[DONE]'),
    'no [DONE]',
  );
  t.ok(
    events.some((event) => event.event === 'error'),
    'an error event',
  );
  t.equal(stack.ollama.requests.length, 3);
});

t.test('a client that leaves while the classifier decides stops it: nothing is answered or stored', async (t) => {
  const turnsBefore = (await turnIds()).length;
  // Both classifier calls stay at the model until one client has left.
  const release = stack.ollama.hold();
  t.teardown(release);
  const leave = new AbortController();
  // A client that stays, read to the end, next to one that leaves.
  const pending = post({ model: 'auto', stream: true, messages: user('tell me something') }).then((r) => r.text());
  // fetch with a signal, so the client really closes its connection.
  const res = fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'auto', stream: true, messages: user('tell me more') }),
    signal: leave.signal,
  }).catch(() => undefined);
  await waitFor('both classifier calls to reach the model', () => stack.ollama.requests.length === 2);
  leave.abort();
  await res;
  await waitFor("the left client's classifier call to be aborted", () =>
    stack.ollama.requests.some((request) => request.aborted),
  );
  release();
  await pending;
  // The client that stayed got its answer (classifier, then the default agent: 3 model calls);
  // the one that left caused no agent call.
  t.equal(stack.ollama.requests.length, 3, 'no agent was asked for the client that left');
  t.equal((await turnIds()).length, turnsBefore + 1, 'one turn: the client that stayed');
});

t.test('a cancel before an aggregator starts: request_cancelled, the aggregator is never asked', async (t) => {
  const client = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
  t.teardown(() => client.close());
  await client.next((frame) => frame.type === 'ready');
  // 9 s of answer per part: they are aborted long before they could finish.
  stack.ollama.behave({ tokens: Array.from({ length: 60 }, (_, i) => `t${i} `), tokenDelayMs: 150 });
  client.send({ type: 'chat', id: 'a1', messages: user('synthesise slowly') });
  await waitFor('both parts to reach the backend', () => stack.ollama.requests.length === 2);
  client.send({ type: 'cancel', id: 'a1' });
  const { terminal } = await client.finish('a1', 5000);
  t.match(terminal, { type: 'error', error: { code: 'request_cancelled' } });
  await waitFor('both parts to be aborted', () => stack.ollama.requests.every((request) => request.aborted));
  t.equal(stack.ollama.requests.length, 2, 'no aggregator call');
});

t.test("a routing reason that quotes the classifier's answer is masked in meta and logs", async (t) => {
  const secret = `sk-proj-${'Zx9'.repeat(10)}`;
  stack.ollama.behave({ tokens: [`maybe ${secret}`] });
  const res = await post({ model: 'auto', messages: user('something no rule knows') });
  const body: any = await res.json();
  t.equal(body.meta.routing.by, 'default');
  t.match(body.meta.routing.reason, /\[REDACTED:openai_key\]/);
  t.notMatch(JSON.stringify(stack.logs.lines), secret, 'no log line holds it');
});
