import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeChatRequest, type ChatRequest } from '../../bus-schemas/index.js';
import { DEFAULT_AGENTS_FILE } from '../../common/catalog.js';
import { startFakeOpenAI } from '../helpers/fake-openai.js';
import { createKey } from '../helpers/keys-cli.js';
import { startSideLane, startStack } from '../helpers/stack.js';
import { traceLine } from '../helpers/trace-lines.js';

// Issue 18, findings 3 and 8, against real parts: nats-server, gateway, worker, the fake Ollama
// (local) and the fake OpenAI (not local) on loopback sockets, keys made by the keys CLI.
const upstream = await startFakeOpenAI(['gpt-test']);
t.teardown(() => upstream.close());
const dir = mkdtempSync(join(tmpdir(), 'agentbus-secrets-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// The shipped agents; `testing` tries OpenAI first, then Ollama: a private request skips OpenAI.
const shipped = JSON.parse(readFileSync(DEFAULT_AGENTS_FILE, 'utf8')) as { agents: Array<Record<string, unknown>> };
const agentsFile = join(dir, 'agents.json');
writeFileSync(
  agentsFile,
  JSON.stringify({
    agents: shipped.agents.map((agent) =>
      agent['name'] === 'testing'
        ? { ...agent, providers: [{ provider: 'openai', model: 'gpt-test' }, { provider: 'ollama' }] }
        : agent,
    ),
  }),
);
const tiersFile = join(dir, 'tiers.json');
writeFileSync(tiersFile, JSON.stringify({ tiers: { tiny: { requests_per_minute: 3 }, unlimited: {} } }));
const keysFile = join(dir, 'keys.json');
process.env['RATE_TIERS_FILE'] = tiersFile;
const reviewer = await createKey(keysFile, [
  '--name',
  'reviewer',
  '--agents',
  'code_review,testing',
  '--tier',
  'unlimited',
]);
const open = await createKey(keysFile, ['--name', 'open', '--tier', 'unlimited']);
const tiny = await createKey(keysFile, ['--name', 'tiny', '--tier', 'tiny']);
delete process.env['RATE_TIERS_FILE'];

const stack = await startStack({
  env: { AGENTS_FILE: agentsFile, OPENAI_BASE_URL: upstream.url, KEYS_FILE: keysFile, RATE_TIERS_FILE: tiersFile },
});
t.teardown(() => stack.close());
t.beforeEach(() => {
  stack.ollama.behave({});
  upstream.behave({});
});

const post = async (baseUrl: string, key: string, body: Record<string, unknown>) => {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
};

// Assembled at run time, so no scanner takes this file for a leak.
const STRIPE = ['sk_', 'live_', 'Z9y8X7w6V5'.repeat(3)].join('');
const HF = ['hf_', 'Q1w2E3r4T5'.repeat(4)].join('');
const GITLAB = ['glpat-', 'M4n5B6v7C8x9Z0a1S2d3'].join('');
const user = { role: 'user', content: 'Which tests does this need?' };
const withToolCall = {
  messages: [
    user,
    {
      role: 'assistant',
      content: '',
      tool_calls: [
        {
          id: 'call_1',
          type: 'function',
          function: { name: 'run', arguments: JSON.stringify({ env: { STRIPE_KEY: STRIPE }, retries: 2 }) },
        },
      ],
    },
    { role: 'tool', tool_call_id: 'call_1', content: 'ok' },
  ],
};
const withTool = {
  messages: [user],
  tools: [
    {
      type: 'function',
      function: {
        name: 'publish',
        description: `Publishes with ${HF}.`,
        parameters: { type: 'object', properties: { token: { type: 'string', default: GITLAB } } },
      },
    },
  ],
};
const withSchema = {
  messages: [user],
  response_format: {
    type: 'json_schema',
    json_schema: { name: 'plan', schema: { type: 'object', examples: [{ stripe: STRIPE }] } },
  },
};
const cases: Array<[string, Record<string, unknown>]> = [
  ["an assistant message's tool_calls arguments", withToolCall],
  ["a tool's description and parameters default", withTool],
  ['a response_format schema', withSchema],
];
const leaks = (text: string) => [STRIPE, HF, GITLAB].filter((secret) => text.includes(secret));

for (const [where, body] of cases) {
  t.test(`a secret in ${where} makes the request private: it never reaches OpenAI`, async (t) => {
    const before = upstream.requests.length;
    const res = await post(stack.baseUrl, open, { model: 'testing', ...body });
    t.equal(res.status, 200, JSON.stringify(res.body));
    t.equal(res.body.meta.provider, 'ollama', 'the local provider answered');
    t.match(res.body.meta.fallback, [{ kind: 'provider', from: 'openai', to: 'ollama', reason: 'not_local' }]);
    t.equal(upstream.requests.length, before, 'the fake OpenAI received nothing');
    const turn = await stack.db
      .selectFrom('turns')
      .select('private')
      .where('request_id', '=', res.body.id as string)
      .executeTakeFirstOrThrow();
    t.ok(turn.private, 'stored as a private turn');
  });
}

// A gateway and worker of their own (subject prefix "masked") where secrets do not make requests private.
const lane = await startSideLane(stack, { prefix: 'masked', env: { SECRETS_MAKE_PRIVATE: 'false' } });
t.teardown(() => lane.close());

t.test('with SECRETS_MAKE_PRIVATE=false OpenAI gets every secret masked, the JSON arguments valid', async (t) => {
  for (const [where, body] of cases) {
    const before = upstream.requests.length;
    const res = await post(lane.baseUrl, open, { model: 'testing', ...body });
    t.equal(res.status, 200, where);
    t.equal(res.body.meta.provider, 'openai', where);
    t.equal(upstream.requests.length, before + 1);
    const sent = upstream.requests.at(-1)!.body;
    t.same(leaks(JSON.stringify(sent)), [], `${where}: no secret reached OpenAI`);
    if (body === withToolCall) {
      const args = sent.messages.find((m: any) => m.tool_calls).tool_calls[0].function.arguments;
      t.same(JSON.parse(args), { env: { STRIPE_KEY: '[REDACTED:stripe_key]' }, retries: 2 }, 'valid JSON');
    }
    if (body === withTool) t.equal(sent.tools[0].function.description, 'Publishes with [REDACTED:huggingface_token].');
  }
});

t.test("an agentbus key in the text reaches neither the trace log nor OpenAI's request", async (t) => {
  const res = await post(lane.baseUrl, open, {
    model: 'testing',
    messages: [{ role: 'user', content: `why is ${tiny} refused?` }],
  });
  t.equal(res.status, 200);
  t.notOk(JSON.stringify(upstream.requests.at(-1)!.body).includes(tiny), 'masked for OpenAI');
  const line = await traceLine(stack.config.logDir, 'testing', res.body.id as string);
  t.equal(line['prompt'], 'why is [REDACTED:agentbus_key] refused?');
});

t.test('a scoped key\'s "auto" request is classified by an agent of its scope, never another', async (t) => {
  const seen: ChatRequest[] = [];
  const subs = stack.catalog.names.map((name) =>
    stack.bus.subscribe(`agents.${name}.chat`, { callback: (_err, msg) => seen.push(decodeChatRequest(msg.data)) }),
  );
  t.teardown(() => subs.forEach((sub) => sub.unsubscribe()));
  // The fake model names `testing` whatever it is asked: the classifier's answer, then the reply.
  stack.ollama.behave({ tokens: ['testing'] });
  const res = await post(stack.baseUrl, reviewer, {
    model: 'auto',
    messages: [{ role: 'user', content: 'What is the capital of France?' }],
  });
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.match(res.body.meta.routing, { agents: ['testing'], by: 'classifier' });
  const classifier = seen.filter((envelope) => envelope.request_id.startsWith('route-'));
  t.same(
    classifier.map((envelope) => envelope.intent),
    ['code_review'],
    'one classifier call, as the first agent of the scope',
  );
  t.notMatch(classifier[0]!.messages[0]!.content, /documentation/, 'it offers only the scope');
  t.same(
    seen.filter((envelope) => !['code_review', 'testing'].includes(envelope.intent)),
    [],
    'no agent outside the scope saw the text',
  );
});

t.test('each agent of a fan-out takes a rate-limit token: 2 + 1 of 3, then 429', async (t) => {
  // The code_block rule routes to code_generation and code_review.
  const codeBlock = { model: 'auto', messages: [{ role: 'user', content: '```js\nconst x = 1;\n```' }] };
  const fan = await post(stack.baseUrl, tiny, codeBlock);
  t.equal(fan.status, 200);
  t.same(fan.body.meta.routing.agents, ['code_generation', 'code_review']);
  t.equal(fan.headers.get('x-ratelimit-remaining-requests'), '1', 'two of three tokens spent');
  const calls = stack.ollama.requests.length;
  const second = await post(stack.baseUrl, tiny, codeBlock);
  t.equal(second.status, 429, 'one token left, a fan-out of two needs two');
  t.equal(second.headers.get('x-ratelimit-remaining-requests'), '1', 'the refused fan-out spent nothing');
  t.match(second.body, { error: { code: 'rate_limit_exceeded', message: /makes 2 model calls/ } });
  t.equal(stack.ollama.requests.length, calls, 'the refused fan-out called no model');
  const single = await post(stack.baseUrl, tiny, { model: 'code_review', messages: [user] });
  t.equal(single.status, 200, 'the last token serves one agent');
  t.equal((await post(stack.baseUrl, tiny, { model: 'code_review', messages: [user] })).status, 429);
});
