import type { ServiceInfo, ServiceStats } from '@nats-io/services';
import t from 'tap';
import { judgeReadiness } from '../../gateway/routes/readiness.js';

// What /ready answers for what the workers report: one agent's trouble leaves the gateway in the
// balancer ("degraded") while another agent can still be answered, since every gateway sees it.

interface FakeEndpoint {
  agent: string;
  /** `null`: not reported (a worker older than the field). */
  providers?: 0 | 1 | null;
  unavailable?: string;
  memoryProblem?: string;
}

const infoOf = (id: string, endpoints: FakeEndpoint[]) =>
  ({
    id,
    endpoints: endpoints.map((e) => ({ name: e.agent, subject: `x.${e.agent}`, metadata: { agent: e.agent } })),
  }) as unknown as ServiceInfo;

const statsOf = (id: string, endpoints: FakeEndpoint[]) =>
  ({
    id,
    endpoints: endpoints.map((e) => ({
      name: e.agent,
      data: {
        ...(e.providers === null ? {} : { providers_available: e.providers ?? 1 }),
        ...(e.unavailable ? { unavailable: e.unavailable } : {}),
        memory_writable: e.memoryProblem ? 0 : 1,
        ...(e.memoryProblem ? { memory_problem: e.memoryProblem } : {}),
      },
    })),
  }) as unknown as ServiceStats;

type Kind = 'chat' | 'embedding';

const judge = (
  workers: Record<string, FakeEndpoint[]>,
  agents: Record<string, Kind> = { chat: 'chat', code: 'chat' },
) =>
  judgeReadiness(
    Object.entries(workers).map(([id, e]) => infoOf(id, e)),
    Object.entries(workers).map(([id, e]) => statsOf(id, e)),
    Object.entries(agents).map(([name, kind]) => ({ name, kind })),
  );

t.test('every agent answerable: ready', async (t) => {
  const { code, body } = judge({ w1: [{ agent: 'chat' }, { agent: 'code' }] });
  t.equal(code, 200);
  t.match(body, { status: 'ready', workers: 1, agents: { chat: 1, code: 1 } });
  t.notOk('reason' in body);
});

t.test('no worker at all: unavailable', async (t) => {
  const { code, body } = judge({});
  t.equal(code, 503);
  t.match(body, { status: 'unavailable', reason: /no worker answers/, agents: { chat: 0, code: 0 } });
});

t.test("one agent's every circuit open, another agent answerable: degraded, 200, names it", async (t) => {
  const { code, body } = judge({
    w1: [{ agent: 'chat', providers: 0, unavailable: 'ollama: circuit open' }, { agent: 'code' }],
    w2: [{ agent: 'chat', providers: 0, unavailable: 'ollama: circuit open' }],
  });
  t.equal(code, 200);
  t.match(body, {
    status: 'degraded',
    reason: "agent chat: every provider's circuit is open on every worker (ollama: circuit open)",
  });
});

t.test('an agent with one worker still able to answer it is not named', async (t) => {
  const { code, body } = judge({
    w1: [{ agent: 'chat', providers: 0 }, { agent: 'code' }],
    w2: [{ agent: 'chat' }],
  });
  t.equal(code, 200);
  t.equal(body.status, 'ready');
});

t.test('every agent with every circuit open: unavailable, 503, names each', async (t) => {
  const { code, body } = judge({
    w1: [
      { agent: 'chat', providers: 0 },
      { agent: 'code', providers: 0 },
    ],
  });
  t.equal(code, 503);
  t.match(body, { status: 'unavailable', reason: /agent chat: .*; agent code: / });
});

t.test("one worker's memory refuses writes, another worker takes them: degraded", async (t) => {
  const { code, body } = judge({
    w1: [
      { agent: 'chat', memoryProblem: 'SQLITE_FULL' },
      { agent: 'code', memoryProblem: 'SQLITE_FULL' },
    ],
    w2: [{ agent: 'chat' }],
  });
  t.equal(code, 200);
  t.match(body, { status: 'degraded', reason: 'worker w1 cannot write its memory (SQLITE_FULL)' });
});

t.test("every worker's memory refuses writes: unavailable, although the providers answer", async (t) => {
  const { code, body } = judge({
    w1: [{ agent: 'chat', memoryProblem: 'SQLITE_FULL' }],
    w2: [{ agent: 'code', memoryProblem: 'ECONNREFUSED' }],
  });
  t.equal(code, 503);
  t.match(body, { status: 'unavailable', reason: /worker w1 .*SQLITE_FULL.*; worker w2 .*ECONNREFUSED/ });
});

t.test('only an agent outside the catalog answerable: unavailable', async (t) => {
  const { code } = judge({ w1: [{ agent: 'chat', providers: 0 }, { agent: 'chat-speech' }] }, { chat: 'chat' });
  t.equal(code, 503);
});

t.test("every worker's memory refuses writes, an embedding agent still answers: degraded", async (t) => {
  const { code, body } = judge(
    {
      w1: [
        { agent: 'chat', memoryProblem: 'SQLITE_FULL' },
        { agent: 'vectors', memoryProblem: 'SQLITE_FULL' },
      ],
    },
    { chat: 'chat', vectors: 'embedding' },
  );
  t.equal(code, 200);
  t.match(body, { status: 'degraded', reason: /worker w1 cannot write its memory/ });
});

t.test('a worker older than providers_available counts as able to answer', async (t) => {
  const { code, body } = judge({
    w1: [
      { agent: 'chat', providers: 0 },
      { agent: 'code', providers: 0 },
    ],
    w2: [{ agent: 'chat', providers: null }],
  });
  t.equal(code, 200);
  t.match(body, { status: 'degraded', reason: /agent code: / });
  t.notMatch(String(body['reason']), /agent chat/);
});

t.test('workers of an agent on different memory databases: degraded, 200, names the agent', async (t) => {
  const onDatabase = (id: string, memory: string) => ({
    ...infoOf(id, [{ agent: 'chat' }, { agent: 'code' }]),
    metadata: { memory },
  });
  const infos = [onDatabase('w1', 'db-a'), onDatabase('w2', 'db-b')];
  const stats = ['w1', 'w2'].map((id) => statsOf(id, [{ agent: 'chat' }, { agent: 'code' }]));
  const { code, body, memorySplits } = judgeReadiness(infos, stats, [
    { name: 'chat', kind: 'chat' },
    { name: 'code', kind: 'chat' },
  ]);
  t.equal(code, 200, 'every agent still answers: the balancer keeps this gateway');
  t.match(body, {
    status: 'degraded',
    reason: /^workers of agent chat use different memory databases: .*; workers of agent code use /,
  });
  t.same(
    memorySplits.map((split) => split.agent),
    ['chat', 'code'],
    'for the route to log',
  );
  const same = judgeReadiness([onDatabase('w1', 'db-a'), onDatabase('w2', 'db-a')] as ServiceInfo[], stats, [
    { name: 'chat', kind: 'chat' },
  ]);
  t.equal(same.body.status, 'ready');
});
