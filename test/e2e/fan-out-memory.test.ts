import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { ChatRequest, ReplyFrame } from '../../bus-schemas/index.js';
import { tenantOf } from '../../gateway/auth/bearer-auth.js';
import { sendEnvelope, envelopeFor } from '../helpers/bus-call.js';
import { startFakeOpenAI } from '../helpers/fake-openai.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { openLiveClient } from '../helpers/ws-client.js';

// Memory across the parts of one client request and across turns, end to end: envelopes
// published on a real nats-server, a worker storing turns in real SQLite, the fake Ollama
// (local) and the fake OpenAI (not local) as backends. A fan-out sends client request R as
// `R` (first agent), `R.<agent>` and `R.aggregate`, all in the same session.
const upstream = await startFakeOpenAI(['gpt-test']);
t.teardown(() => upstream.close());
const dir = mkdtempSync(join(tmpdir(), 'agentbus-fanout-mem-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const agentsFile = join(dir, 'agents.json');
const agent = (name: string, providers?: Array<{ provider: string; model?: string }>) => ({
  name,
  description: `${name} agent`,
  system_prompt: `You are ${name}.`,
  ...(providers ? { providers } : {}),
});
const OPENAI = { provider: 'openai', model: 'gpt-test' };
writeFileSync(
  agentsFile,
  JSON.stringify({
    agents: [
      agent('documentation'),
      agent('code_review'),
      agent('aggregate'),
      agent('cloud_first', [OPENAI, { provider: 'ollama' }]),
      agent('cloud_only', [OPENAI]),
      { ...agent('short_memory', [OPENAI]), history_turns: 1 },
    ],
  }),
);
// Routes that fan out over HTTP: two agents side by side, and the same with an aggregator.
const routingFile = join(dir, 'routing.json');
writeFileSync(
  routingFile,
  JSON.stringify({
    default: 'documentation',
    rules: [
      { name: 'pair', agents: ['documentation', 'code_review'], keywords: ['pair'] },
      {
        name: 'synthesis',
        agents: ['documentation', 'code_review'],
        aggregator: 'aggregate',
        keywords: ['synthesise'],
      },
    ],
  }),
);
const stack = await startStack({
  env: { AGENTS_FILE: agentsFile, ROUTING_FILE: routingFile, OPENAI_BASE_URL: upstream.url },
});
t.teardown(() => stack.close());

const call = (intent: string, content: string, extra: Partial<ChatRequest>) =>
  sendEnvelope(stack.bus, stack.config.subjectPrefix, envelopeFor(intent, [{ role: 'user', content }], extra));
const doneOf = (frames: ReplyFrame[]) => {
  const last = frames.at(-1)!;
  if (last.type !== 'done') throw new Error(`expected done, got ${JSON.stringify(last)}`);
  return last;
};
const errorOf = (frames: ReplyFrame[]) => {
  const last = frames.at(-1)!;
  if (last.type !== 'error') throw new Error(`expected error, got ${JSON.stringify(last)}`);
  return last.error;
};
/** What the fake Ollama was last sent, after the system prompt. */
const ollamaSaw = () =>
  stack.ollama.requests
    .at(-1)!
    .messages.slice(1)
    .map((m) => m.content);
/** Answers one envelope through the local model, saying `answer`. */
const answer = async (intent: string, content: string, requestId: string, sessionId: string, answerText: string) => {
  stack.ollama.behave({ tokens: [answerText] });
  return doneOf(await call(intent, content, { request_id: requestId, session_id: sessionId, create_session: true }));
};
const newSession = () => `conv_${randomUUID().replaceAll('-', '')}`;
// Request ids as the gateway makes them: base64url, so with "_" and "-" but no ".".
const newRequestId = () => `chatcmpl-${randomUUID().replaceAll('-', '_')}`;

t.test('the parts of one fan-out do not read each other as history, in a new conversation', async (t) => {
  const session = newSession();
  const root = newRequestId();
  const first = await answer('documentation', 'Explain retries', root, session, 'docs part');
  t.equal(first.meta.memory_used, false);

  const part = await answer('code_review', 'Explain retries', `${root}.code_review`, session, 'review part');
  t.equal(part.meta.memory_used, false, "the first part's turn is not earlier conversation");
  t.same(ollamaSaw(), ['Explain retries'], 'the model saw the question alone');

  const aggregate = await answer('aggregate', 'Explain retries', `${root}.aggregate`, session, 'summary');
  t.equal(aggregate.meta.memory_used, false, 'nor are the other parts, to the aggregator');
  t.same(ollamaSaw(), ['Explain retries']);

  const stored = await stack.db
    .selectFrom('turns')
    .select('request_id')
    .where('session_id', '=', session)
    .orderBy('id')
    .execute();
  t.same(
    stored.map((row) => row.request_id),
    [root, `${root}.code_review`, `${root}.aggregate`],
    'each part still stores its turn',
  );

  // The next client request sees them as the one exchange its client had: the question once, and
  // the aggregator's synthesis, which was the answer. Its own parts see the same, not each other.
  const next = newRequestId();
  const followUp = await answer('documentation', 'And backoff?', next, session, 'docs again');
  t.equal(followUp.meta.memory_used, true);
  t.same(ollamaSaw(), ['Explain retries', 'summary', 'And backoff?']);
  await answer('code_review', 'And backoff?', `${next}.code_review`, session, 'review again');
  t.same(ollamaSaw(), ['Explain retries', 'summary', 'And backoff?'], 'without its sibling\'s "docs again"');
  // Without a synthesis, the client got a section per agent, and so does the model.
  await answer('documentation', 'Then?', newRequestId(), session, 'plain');
  t.same(ollamaSaw(), [
    'Explain retries',
    'summary',
    'And backoff?',
    '## documentation\n\ndocs again\n\n## code_review\n\nreview again',
    'Then?',
  ]);
});

t.test('a continued fan-out shows the model the question once and the answer the client got', async (t) => {
  const post = (content: string, model: string, session?: string) =>
    fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: session ? { ...AUTH, 'x-session-id': session } : AUTH,
      body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
    });
  const cases = [
    { question: 'pair up on retries', answers: ['first', 'second'] },
    { question: 'synthesise retries', answers: ['first', 'second', 'the synthesis'] },
  ];
  for (const { question, answers } of cases) {
    // The parts ask at once: which one gets which answer does not matter, the client's answer is compared.
    stack.ollama.behaveInTurn(answers.map((text) => ({ tokens: [text] })));
    const res = await post(question, 'auto');
    t.equal(res.status, 200);
    const body = (await res.json()) as { conversation_id: string; choices: Array<{ message: { content: string } }> };
    const received = body.choices[0]!.message.content;
    t.match(received, answers.length === 3 ? /^the synthesis$/ : /^## documentation\n\n.+\n\n## code_review\n\n/);

    stack.ollama.behave({ tokens: ['ok'] });
    const next = await post('And backoff?', 'documentation', body.conversation_id);
    t.equal(next.status, 200);
    t.same(ollamaSaw(), [question, received, 'And backoff?'], question);
  }
});

t.test('only the same client request is left out: ids that merely look alike stay history', async (t) => {
  const session = newSession();
  const root = newRequestId();
  // Would match LIKE '<root>.%' ("_" matches any character), but is another request's part.
  const lookalike = `${root.replaceAll('_', 'X')}.code_review`;
  t.not(lookalike.split('.')[0], root);
  await answer('code_review', 'lookalike question', lookalike, session, 'lookalike answer');
  // Shares the root as a prefix, without the dot: another request.
  await answer('documentation', 'prefix question', `${root}x`, session, 'prefix answer');

  // A part alone (its first agent failed): the section the client got.
  const lookalikeAnswer = '## code_review\n\nlookalike answer';
  const part = await answer('code_review', 'question', `${root}.code_review`, session, 'part answer');
  t.equal(part.meta.memory_used, true);
  t.same(ollamaSaw(), ['lookalike question', lookalikeAnswer, 'prefix question', 'prefix answer', 'question']);
  // A retry reuses the id: the part's own stored turn is not history either.
  await answer('documentation', 'question', root, session, 'root answer');
  t.same(ollamaSaw(), ['lookalike question', lookalikeAnswer, 'prefix question', 'prefix answer', 'question']);
});

t.test('a private turn keeps the later turns of its conversation on local providers', async (t) => {
  const session = newSession();
  const openaiBefore = upstream.requests.length;
  const first = doneOf(
    await call('cloud_first', 'my private plan', { session_id: session, create_session: true, private: true }),
  );
  t.match(first.meta, {
    provider: 'ollama',
    fallback: [{ kind: 'provider', from: 'openai', to: 'ollama', reason: 'not_local' }],
  });

  const second = doneOf(await call('cloud_first', 'what next?', { session_id: session, create_session: false }));
  t.equal(second.meta.memory_used, true);
  t.match(
    second.meta,
    { provider: 'ollama', fallback: [{ kind: 'provider', from: 'openai', to: 'ollama', reason: 'not_local' }] },
    'not private itself, but its history is',
  );
  t.equal(ollamaSaw()[0], 'my private plan', 'the history went to the local model');
  t.equal(upstream.requests.length, openaiBefore, 'the fake OpenAI received nothing');

  const rows = await stack.db
    .selectFrom('turns')
    .select(['user_input', 'private'])
    .where('session_id', '=', session)
    .orderBy('id')
    .execute();
  t.same(
    rows,
    [
      { user_input: 'my private plan', private: 1 },
      { user_input: 'what next?', private: 1 },
    ],
    'the follow-up is stored private too: its answer may repeat the plan',
  );

  const refused = errorOf(await call('cloud_only', 'and then?', { session_id: session, create_session: false }));
  t.match(
    refused,
    { code: 'no_local_provider', retryable: false },
    'an agent with no local provider cannot continue it',
  );
  t.equal(upstream.requests.length, openaiBefore, 'still nothing for the fake OpenAI');

  const elsewhere = doneOf(await call('cloud_first', 'hello', { session_id: newSession(), create_session: true }));
  t.equal(elsewhere.meta.provider, 'openai', 'another conversation is not private');
  t.equal(upstream.requests.length - openaiBefore, 1);
  const other = await stack.db
    .selectFrom('turns')
    .select('private')
    .where('session_id', '=', elsewhere.meta.conversation_id)
    .executeTakeFirstOrThrow();
  t.equal(other.private, 0);
});

t.test('a completion id resolves its conversation when only the other fan-out parts were stored', async (t) => {
  const session = newSession();
  const root = newRequestId();
  // The first part (id `root`) failed: only code_review's turn exists.
  await answer('code_review', 'Review my patch', `${root}.code_review`, session, 'looks fine');

  stack.ollama.behave({ tokens: ['ok'] });
  const byCompletion = doneOf(await call('documentation', 'Thanks', { session_id: root, create_session: false }));
  t.equal(byCompletion.meta.conversation_id, session);
  t.equal(byCompletion.meta.memory_used, true);
  t.same(ollamaSaw(), ['Review my patch', '## code_review\n\nlooks fine', 'Thanks'], 'the section the client got');

  const foreign = errorOf(
    await call('documentation', 'let me in', {
      session_id: root,
      create_session: false,
      tenant: tenantOf('another-key'),
    }),
  );
  t.match(foreign, { code: 'session_not_found' }, 'the owner check still applies');
  t.equal(
    await stack.db.selectFrom('turns').select('id').where('user_input', '=', 'let me in').executeTakeFirst(),
    undefined,
  );

  const overHttp = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, 'x-session-id': root },
    body: JSON.stringify({ model: 'documentation', messages: [{ role: 'user', content: 'Once more' }] }),
  });
  t.equal(overHttp.status, 200, 'X-Session-ID: <completion id> no longer answers 404');
  t.equal(((await overHttp.json()) as { conversation_id: string }).conversation_id, session);

  const last = await fetch(`${stack.baseUrl}/memory/last?session=${root}`, { headers: AUTH });
  t.equal(last.status, 200, 'GET /memory/last resolves it the same way');
  t.equal(((await last.json()) as { session_id: string }).session_id, session);
});

t.test('a history window that starts after a tool call replays no result without its call', async (t) => {
  // The backend (OpenAI's rules, as the fake keeps them) refuses a tool message with no call before it.
  const http = async (messages: object[], session?: string) => {
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: session ? { ...AUTH, 'x-session-id': session } : AUTH,
      body: JSON.stringify({
        model: 'short_memory',
        messages,
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
      }),
    });
    return { status: res.status, body: await res.json() };
  };
  upstream.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: '{"city":"Lima"}' }] });
  const asked = await http([{ role: 'user', content: 'Weather in Lima?' }]);
  t.equal(asked.status, 200);
  const session = asked.body.conversation_id;
  const callId = asked.body.choices[0].message.tool_calls[0].id;
  upstream.behave({ tokens: ['Warm', '.'] });
  const answered = await http([{ role: 'tool', tool_call_id: callId, content: '24 °C' }], session);
  t.equal(answered.status, 200, JSON.stringify(answered.body));
  // One turn of history: the tool result's turn, whose call is the turn before it.
  const next = await http([{ role: 'user', content: 'And tomorrow?' }], session);
  t.equal(next.status, 200, JSON.stringify(next.body));
  t.same(
    upstream.requests.at(-1)!.body.messages.map((m: { role: string }) => m.role),
    ['system', 'assistant', 'user'],
    "the result is left out with its call's turn; the answer stays",
  );
});

t.test(
  'Responses: instructions beside a function_call_output join the system prompt, the result follows its call',
  async (t) => {
    const respond = async (body: object) => {
      const res = await fetch(`${stack.baseUrl}/v1/responses`, {
        method: 'POST',
        headers: AUTH,
        body: JSON.stringify({
          model: 'cloud_only',
          tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' } }],
          ...body,
        }),
      });
      return { status: res.status, body: await res.json() };
    };
    upstream.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: '{"city":"Lima"}' }] });
    const first = await respond({ input: 'Weather in Lima?', instructions: 'Be brief.' });
    t.equal(first.status, 200, JSON.stringify(first.body));
    const call = first.body.output.find((item: { type: string }) => item.type === 'function_call');
    upstream.behave({ tokens: ['Warm', '.'] });
    const second = await respond({
      previous_response_id: first.body.id,
      instructions: 'Be brief.',
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '24 °C' }],
    });
    t.equal(second.status, 200, JSON.stringify(second.body));
    const message = second.body.output.find((item: { type: string }) => item.type === 'message');
    t.equal(message?.content?.[0]?.text, 'Warm.');
    const sent = upstream.requests.at(-1)!.body.messages as Array<{ role: string; content: unknown }>;
    t.same(
      sent.map((m) => m.role),
      ['system', 'user', 'assistant', 'tool'],
    );
    t.same(sent[0], { role: 'system', content: 'You are cloud_only.\n\nBe brief.' }, 'one system message');
  },
);

t.test('DELETE of a fan-out response forgets every part: nothing replays it or continues by its id', async (t) => {
  const session = newSession();
  const root = `resp_${randomUUID().replaceAll('-', '')}`;
  await answer('documentation', 'Explain retries', root, session, 'docs part');
  await answer('code_review', 'Explain retries', `${root}.code_review`, session, 'review part');
  // A part's id is the bus's own: no client was given it, and it names no response or conversation.
  const part = `${root}.code_review`;
  for (const path of [part, `${part}/input_items`])
    t.equal((await fetch(`${stack.baseUrl}/v1/responses/${path}`, { headers: AUTH })).status, 404, path);
  t.equal((await fetch(`${stack.baseUrl}/v1/responses/${part}`, { method: 'DELETE', headers: AUTH })).status, 404);
  const byPart = await fetch(`${stack.baseUrl}/v1/responses`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'documentation', input: 'Go on', previous_response_id: part }),
  });
  t.match(await byPart.json(), { error: { code: 'response_not_found', param: 'previous_response_id' } });
  const last = await fetch(`${stack.baseUrl}/memory/last?session=${part}`, { headers: AUTH });
  t.equal(last.status, 404, 'nor does /memory/last take it');
  const read = await (await fetch(`${stack.baseUrl}/v1/responses/${root}`, { headers: AUTH })).json();
  t.match(read, { id: root, output: [{ content: [{ text: 'docs part' }] }] }, "the first agent's part, as R");

  const deleted = await fetch(`${stack.baseUrl}/v1/responses/${root}`, { method: 'DELETE', headers: AUTH });
  t.same(await deleted.json(), { id: root, object: 'response', deleted: true });

  const continued = await fetch(`${stack.baseUrl}/v1/responses`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'documentation', input: 'And then?', previous_response_id: root }),
  });
  t.equal(continued.status, 404);
  t.match((await continued.json()).error, { code: 'response_not_found', param: 'previous_response_id' });

  stack.ollama.behave({ tokens: ['ok'] });
  const next = doneOf(await call('documentation', 'Anything else?', { session_id: session, create_session: false }));
  t.equal(next.meta.memory_used, false, 'neither part is history any more');
  t.same(ollamaSaw(), ['Anything else?']);
});

t.test('a fan-out stopped by its client after one part finished: what is stored is what the client got', async (t) => {
  const post = (body: object, session?: string, signal?: AbortSignal) =>
    fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: session ? { ...AUTH, 'x-session-id': session } : AUTH,
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });
  // Every row, pending ones too: straight from the workers' database, without the settling wait.
  const turnsOf = (session: string) =>
    stack.workerDb
      .selectFrom('turns')
      .select(['request_id', 'state'])
      .where('session_id', '=', session)
      .orderBy('id')
      .execute();
  const cases = [
    { how: 'the HTTP client leaves', route: 'pair', question: 'pair up on retries' },
    { how: 'the HTTP client leaves', route: 'synthesis', question: 'synthesise retries' },
    { how: 'a WebSocket cancel', route: 'synthesis', question: 'synthesise retries' },
    { how: 'a WebSocket cancel', route: 'pair', question: 'pair up on retries' },
  ];
  for (const { how, route, question } of cases) {
    await t.test(`${how}, route ${route}`, async (t) => {
      stack.ollama.behave({ tokens: ['first answer'] });
      const first = await post({ model: 'documentation', messages: [{ role: 'user', content: 'start' }] });
      t.equal(first.status, 200);
      const session = ((await first.json()) as { conversation_id: string }).conversation_id;
      await waitFor('the first turn to be committed', async () => (await turnsOf(session))[0]?.state === 'committed');
      const before = await turnsOf(session);

      // The first part to reach the model answers at once, the other would take 9 s.
      const sent = stack.ollama.requests.length;
      const slow = { tokens: Array.from({ length: 60 }, (_, i) => `t${i} `), tokenDelayMs: 150 };
      stack.ollama.behaveInTurn([{ tokens: ['fast part'] }, slow]);
      const leave = new AbortController();
      const client = how.startsWith('a WebSocket')
        ? await openLiveClient(stack.baseUrl, { headerKey: 'local-only' })
        : undefined;
      t.teardown(() => client?.close());
      const messages = [{ role: 'user', content: question }];
      if (client) {
        await client.next((frame) => frame.type === 'ready');
        client.send({ type: 'chat', id: 'c1', session_id: session, messages });
      } else {
        post({ model: 'auto', stream: true, messages }, session, leave.signal)
          .then((res) => res.text())
          .catch(() => undefined);
      }
      // The finished part's worker has written its turn pending and waits for the delivery receipt.
      await waitFor('one part to finish', async () => (await turnsOf(session)).some((row) => row.state === 'pending'));
      t.equal(stack.ollama.requests.length - sent, 2, 'both parts reached the model');
      const stoppedAt = Date.now();
      if (client) {
        client.send({ type: 'cancel', id: 'c1' });
        const { terminal } = await client.finish('c1', 5000);
        t.match(
          terminal,
          { type: 'error', error: { code: 'request_cancelled', message: /nothing was stored/ } },
          'the client is told nothing was stored',
        );
      } else leave.abort();
      await waitFor('the slow part to be aborted', () => stack.ollama.requests.at(-1)!.aborted);
      await waitFor('the finished part to be settled', async () =>
        (await turnsOf(session)).every((row) => row.state === 'committed'),
      );
      // The worker would give up waiting only after the request's deadline (120 s) and the receipt's grace.
      t.ok(Date.now() - stoppedAt < 60_000, 'settled by its receipt, not by the worker giving up waiting');
      t.same(await turnsOf(session), before, 'only the turn before the fan-out is stored');

      stack.ollama.behave({ tokens: ['ok'] });
      const next = await post({ model: 'documentation', messages: [{ role: 'user', content: 'And then?' }] }, session);
      t.equal(next.status, 200);
      t.same(ollamaSaw(), ['start', 'first answer', 'And then?'], 'the next request sees no trace of the fan-out');
    });
  }
});
