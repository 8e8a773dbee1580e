import type { ServiceInfo } from '@nats-io/services';
import t from 'tap';
import { describeMemorySplit, findMemorySplits, memorySplitWarner } from '../../gateway/routes/memory-split.js';

// Workers that answer the same requests must write the same memory database: a queue group hands
// a continued conversation to any of them, and one with another database does not find it.

/** A worker's `$SRV.INFO` as workers/agent-service.ts makes it: agent endpoints, then memory's. */
const worker = (
  id: string,
  memory: string | undefined,
  agents: string[],
  options: { prefix?: string; embedding?: string[] } = {},
) => {
  const prefix = options.prefix ?? 'agents';
  const agent = (name: string, kind?: string) => ({
    name,
    subject: `${prefix}.${name}.${kind === 'embedding' ? 'embed' : 'chat'}`,
    metadata: { agent: name, ...(kind ? { kind } : {}) },
  });
  return {
    id,
    metadata: { agents: agents.join(','), ...(memory === undefined ? {} : { memory }) },
    endpoints: [
      ...agents.map((name) => agent(name)),
      ...(options.embedding ?? []).map((name) => agent(name, 'embedding')),
      { name: 'memory', subject: `${prefix}.memory.last`, metadata: { query: 'memory.last' } },
      { name: 'memory-response', subject: `${prefix}.memory.response`, metadata: { query: 'memory.response' } },
      { name: 'memory-commit', subject: `${prefix}.memory.commit`, metadata: { query: 'memory.commit' } },
    ],
  } as unknown as ServiceInfo;
};

t.test('workers of an agent on one database: no split', async (t) => {
  t.same(findMemorySplits([worker('w1', 'db-a', ['chat', 'code']), worker('w2', 'db-a', ['chat'])]), []);
  t.same(findMemorySplits([]), []);
  t.same(findMemorySplits([worker('w1', 'db-a', ['chat'])]), [], 'one worker cannot differ');
});

t.test('workers of an agent on two databases: the agent, each database and its workers', async (t) => {
  const splits = findMemorySplits([
    worker('w3', 'db-b', ['chat']),
    worker('w1', 'db-a', ['chat', 'code']),
    worker('w2', 'db-a', ['chat']),
  ]);
  t.same(splits, [
    {
      agent: 'chat',
      databases: [
        ['db-a', ['w1', 'w2']],
        ['db-b', ['w3']],
      ],
    },
  ]);
  t.equal(
    describeMemorySplit(splits[0]!),
    'workers of agent chat use different memory databases: database db-a on workers w1, w2 and ' +
      'database db-b on worker w3; give every worker the same DATA_DIR or DATABASE_URL',
  );
});

t.test('every agent split is named; the memory queries they imply are not named again', async (t) => {
  const splits = findMemorySplits([worker('w1', 'db-a', ['chat', 'code']), worker('w2', 'db-b', ['chat', 'code'])]);
  t.same(
    splits.map((s) => s.agent),
    ['chat', 'code'],
  );
});

t.test('agents apart on their own databases still share the memory queries: named', async (t) => {
  const splits = findMemorySplits([worker('w1', 'db-a', ['chat']), worker('w2', 'db-b', ['code'])]);
  t.same(splits, [
    {
      agent: undefined,
      databases: [
        ['db-a', ['w1']],
        ['db-b', ['w2']],
      ],
    },
  ]);
  t.match(describeMemorySplit(splits[0]!), /^workers answer memory queries .* from different memory databases: /);
  t.match(describeMemorySplit(splits[0]!), /give every worker the same DATA_DIR or DATABASE_URL$/);
});

t.test('what may differ: another SUBJECT_PREFIX, embedding agents, workers that report no id', async (t) => {
  t.same(
    findMemorySplits([worker('w1', 'db-a', ['chat']), worker('w2', 'db-b', ['chat'], { prefix: 'other' })]),
    [],
    'two deployments on one NATS',
  );
  t.same(
    findMemorySplits([
      worker('w1', 'db-a', ['chat'], { embedding: ['vectors'] }),
      worker('w2', 'db-a', [], { embedding: ['vectors'] }),
      worker('w3', undefined, ['chat'], { embedding: ['vectors'] }),
    ]),
    [],
    'an embedding agent keeps no memory; an older worker reports none',
  );
});

t.test('the warning: once per split, again only after it was mended and came back', async (t) => {
  const warnings: string[] = [];
  const warn = memorySplitWarner({ warn: (obj: { reason: string }) => warnings.push(obj.reason) } as never);
  const split = findMemorySplits([worker('w1', 'db-a', ['chat']), worker('w2', 'db-b', ['chat'])]);
  warn(split);
  warn(split);
  t.equal(warnings.length, 1, 'every /ready poll sees it; one line says it');
  warn(findMemorySplits([worker('w1', 'db-a', ['chat']), worker('w9', 'db-b', ['chat'])]));
  t.equal(warnings.length, 1, 'a worker restarted on the same database is the same split');
  warn([]);
  warn(split);
  t.equal(warnings.length, 2, 'back after it was mended');
  t.match(warnings[1], /agent chat use different memory databases/);
});
