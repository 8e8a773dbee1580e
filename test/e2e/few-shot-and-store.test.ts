import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { ChatRequest, ReplyFrame } from '../../bus-schemas/index.js';
import { sendEnvelope, envelopeFor } from '../helpers/bus-call.js';
import { DEFAULT_CACHE_BUCKET } from '../../workers/cache/response-cache.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { waitUntil } from '../helpers/wait.js';

// Few-shot examples from the catalog, and `store: false` envelopes (the router's classifier
// calls) that must neither read nor write memory, nor touch the response cache.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-fewshot-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const agentsFile = join(dir, 'agents.json');
const EXAMPLES = [
  { user: 'Classify: the build is red', assistant: 'testing' },
  { user: 'Classify: ship it to prod', assistant: 'deployment' },
];
writeFileSync(
  agentsFile,
  JSON.stringify({
    agents: [
      {
        name: 'classifier',
        description: 'Names the agent for a request.',
        system_prompt: 'Answer with one agent name.',
        examples: EXAMPLES,
      },
    ],
  }),
);
// The cache is on here, so a test can tell whether a store:false answer was cached.
const stack = await startStack({ env: { AGENTS_FILE: agentsFile, CACHE_TTL_SECONDS: '60' } });
t.teardown(() => stack.close());

const EXAMPLE_MESSAGES = EXAMPLES.flatMap((e) => [
  { role: 'user', content: e.user },
  { role: 'assistant', content: e.assistant },
]);
const SYSTEM = { role: 'system', content: 'Answer with one agent name.' };
const sentToOllama = () => stack.ollama.requests.at(-1)!.messages.map(({ role, content }) => ({ role, content }));
const chat = async (content: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, ...headers },
    body: JSON.stringify({ model: 'classifier', messages: [{ role: 'user', content }] }),
  });
  return await res.json();
};
const rowCounts = async () => ({
  sessions: Number(
    (
      await stack.db
        .selectFrom('sessions')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  ),
  turns: Number(
    (
      await stack.db
        .selectFrom('turns')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  ),
});
const call = (envelope: ChatRequest) => sendEnvelope(stack.bus, stack.config.subjectPrefix, envelope);
const doneOf = (frames: ReplyFrame[]) => {
  const last = frames.at(-1)!;
  if (last.type !== 'done') throw new Error(`expected done, got ${JSON.stringify(last)}`);
  return last;
};

let conversationId = '';

t.test('few-shot examples reach the model after the system prompt and before stored history, in order', async (t) => {
  stack.ollama.behave({ tokens: ['documentation'] });
  const first = await chat('Classify: write the README');
  t.equal(first.choices[0].message.content, 'documentation');
  t.same(sentToOllama(), [SYSTEM, ...EXAMPLE_MESSAGES, { role: 'user', content: 'Classify: write the README' }]);
  conversationId = first.conversation_id;

  const second = await chat('Classify: and the changelog?', { 'x-session-id': conversationId });
  t.equal(second.meta.memory_used, true);
  t.same(
    sentToOllama(),
    [
      SYSTEM,
      ...EXAMPLE_MESSAGES,
      { role: 'user', content: 'Classify: write the README' },
      { role: 'assistant', content: 'documentation' },
      { role: 'user', content: 'Classify: and the changelog?' },
    ],
    'examples, then history, then the request',
  );
});

t.test("store:false reads no history, writes no session or turn, and acks the envelope's session id", async (t) => {
  stack.ollama.behave({ tokens: ['testing'] });
  const before = await rowCounts();
  // An id no session has, with create_session false: any session lookup would fail.
  const fresh = envelopeFor('classifier', [{ role: 'user', content: 'Classify: flaky test' }], {
    store: false,
    session_id: 'classify-1',
    create_session: false,
  });
  const frames = await call(fresh);
  // The first frame but heartbeats (a worker slower than a heartbeat to ack sends one first).
  t.match(
    frames.find((f) => f.type !== 'heartbeat'),
    { type: 'ack', conversation_id: 'classify-1', cached: false },
  );
  t.match(doneOf(frames).meta, {
    conversation_id: 'classify-1',
    memory_used: false,
    cached: false,
    provider: 'ollama',
  });

  // An existing conversation: its history stays out of the prompt.
  const frames2 = await call(
    envelopeFor('classifier', [{ role: 'user', content: 'Classify: flaky test' }], {
      store: false,
      session_id: conversationId,
      create_session: false,
    }),
  );
  t.match(doneOf(frames2).meta, { conversation_id: conversationId, memory_used: false });
  t.same(
    sentToOllama(),
    [SYSTEM, ...EXAMPLE_MESSAGES, { role: 'user', content: 'Classify: flaky test' }],
    'no stored history',
  );

  t.same(await rowCounts(), before, 'no session or turn row written');
  t.equal(
    await stack.db.selectFrom('sessions').select('id').where('id', '=', 'classify-1').executeTakeFirst(),
    undefined,
  );
  const requestIds = [fresh.request_id, frames2[0]!.request_id];
  t.same(
    await stack.db.selectFrom('turns').select('request_id').where('request_id', 'in', requestIds).execute(),
    [],
    'no turn for either request',
  );
});

t.test('store:false neither reads nor fills the response cache', async (t) => {
  stack.ollama.behave({ tokens: ['deployment'] });
  const messages = [{ role: 'user' as const, content: 'Classify: roll back the release' }];
  // Deterministic, so the cache would take it (CACHE_MODE's default serves only these).
  const DETERMINISTIC = { temperature: 0 };
  const calls = stack.ollama.requests.length;
  for (const n of [1, 2]) {
    const done = doneOf(await call(envelopeFor('classifier', messages, { store: false, options: DETERMINISTIC })));
    t.equal(done.meta.cached, false, `store:false call ${n} is not a cache hit`);
  }
  t.equal(stack.ollama.requests.length - calls, 2, 'both went to the model');

  // The same request with store (a new conversation, so the same cache key): had either
  // store:false answer been cached, this would be a hit.
  const cache = await stack.bus.kvm().open(DEFAULT_CACHE_BUCKET);
  const cachedAnswers = async () => {
    let count = 0;
    for await (const key of await cache.keys()) if (key) count++;
    return count;
  };
  const before = await cachedAnswers();
  const stored = doneOf(await call(envelopeFor('classifier', messages, { options: DETERMINISTIC })));
  t.equal(stored.meta.cached, false, 'nothing was cached by the store:false calls');
  // Written once the client's receipt committed the turn, a moment after done.
  t.ok(await waitUntil(async () => (await cachedAnswers()) > before, 5000), 'the delivered answer is cached');
  const again = doneOf(await call(envelopeFor('classifier', messages, { options: DETERMINISTIC })));
  t.equal(again.meta.cached, true, 'the cache is on: a stored answer is served from it');
  t.equal(stack.ollama.requests.length - calls, 3);
});
