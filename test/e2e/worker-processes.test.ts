import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';
import { startChild, stopChild } from '../../scripts/lib/child-process.js';

// Gateway in-process, no in-process worker: the two workers are real processes started the
// way `npm run worker -- --agents …` starts them, sharing one queue group.
const stack = await startStack({ workerAgents: false });
t.teardown(() => stack.close());
const workerEnv = {
  NATS_URL: stack.natsUrl,
  OLLAMA_URL: stack.ollama.url,
  DATA_DIR: stack.dataDir,
  DEFAULT_MODEL: 'llama3.2',
};
const workers = await Promise.all(
  [1, 2].map(() =>
    startChild(
      'workers/main.ts',
      ['--agents', 'code_generation,code_review'],
      { ...process.env, LOG_FORMAT: 'json', ...workerEnv },
      { output: 'pipe' },
    ),
  ),
);
t.teardown(async () => {
  for (const w of workers) await stopChild(w.child);
});

t.test('each worker reports the agents it serves and the backend it found', async (t) => {
  for (const { ready } of workers) {
    t.same(ready['agents'], ['code_generation', 'code_review']);
    t.match(ready['backend'], { url: stack.ollama.url, reachable: true, version: '0.6.0', missingModels: [] });
  }
});

t.test('both worker processes receive work from the queue group', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 40 && seen.size < 2; i++) {
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'code_generation', messages: [{ role: 'user', content: `task ${i}` }] }),
    });
    t.equal(res.status, 200);
    seen.add((await res.json()).meta.worker);
  }
  t.same([...seen].sort(), workers.map((w) => w.ready['id'] as string).sort(), 'every worker answered at least once');
  const rows = await stack.db.selectFrom('turns').select('request_id').execute();
  t.equal(new Set(rows.map((r) => r.request_id)).size, rows.length, 'each turn stored exactly once across processes');
});

t.test('workers are NATS micro services: $SRV.INFO lists their endpoints', async (t) => {
  const client = stack.bus.services().client();
  const infos = [];
  for await (const info of await client.info('agentbus-worker')) infos.push(info);
  t.equal(infos.length, 2);
  for (const info of infos) {
    t.same(
      info.endpoints.map((e) => [e.name, e.subject, e.queue_group]),
      [
        ['code_generation', 'agents.code_generation.chat', 'code_generation'],
        ['code_review', 'agents.code_review.chat', 'code_review'],
        ['memory', 'agents.memory.last', 'memory'],
        ['memory-response', 'agents.memory.response', 'memory'],
        ['memory-commit', 'agents.memory.commit', 'memory'],
      ],
    );
  }
  const stats = [];
  for await (const s of await client.stats('agentbus-worker')) stats.push(s);
  const served = stats.flatMap((s) => s.endpoints ?? []).reduce((n, e) => n + e.num_requests, 0);
  t.ok(served >= 2, `$SRV.STATS counts the requests (${served})`);
});

t.test('an agent no worker process serves → 503 no_worker', async (t) => {
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'x' }] }),
  });
  t.equal(res.status, 503);
});

t.test('SIGTERM stops a worker cleanly (exit 0) while the other keeps serving', async (t) => {
  t.equal(await stopChild(workers[0]!.child), 0);
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'code_review', messages: [{ role: 'user', content: 'x' }] }),
  });
  t.equal(res.status, 200);
  t.equal((await res.json()).meta.worker, workers[1]!.ready['id']);
});

t.test('a worker asked for an unknown agent refuses to start and names the known ones', async (t) => {
  const failure = await startChild(
    'workers/main.ts',
    ['--agents', 'nope'],
    { ...process.env, LOG_FORMAT: 'json', ...workerEnv },
    { output: 'pipe' },
  ).then(
    () => undefined,
    (err: Error) => err,
  );
  t.match(failure?.message, /exited with 1/);
  t.match(failure?.message, /unknown agent\(s\) nope; the catalog .* has: bengali_nlp, code_generation/);
});
