import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startStack } from '../helpers/stack.js';
import { startWorkerProcess, type TestProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

// A user's mistake: a second worker of an agent started with another DATA_DIR writes another
// SQLite file, and continued conversations meet session_not_found at random. Two real worker
// processes on one nats-server; the gateway's /ready names it, and says ready once they share one.
const stack = await startStack({ workerAgents: false });
t.teardown(() => stack.close());
const otherDataDir = mkdtempSync(join(tmpdir(), 'agentbus-other-data-'));
t.teardown(() => rmSync(otherDataDir, { recursive: true, force: true }));

const started: TestProcess[] = [];
t.teardown(async () => {
  for (const worker of started) await worker.stop();
});
const startWorker = async (dataDir: string) => {
  const env = { NATS_URL: stack.natsUrl, OLLAMA_URL: stack.ollama.url, DATA_DIR: dataDir, DEFAULT_MODEL: 'llama3.2' };
  const worker = await startWorkerProcess(env, ['code_review']);
  started.push(worker);
  return worker;
};
const ready = async () => {
  const res = await fetch(`${stack.baseUrl}/ready`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
// A worker just started may answer $SRV.INFO late for a moment (its first requests compile code).
const readyWithBoth = async () => {
  let last: Awaited<ReturnType<typeof ready>> | undefined;
  await waitFor('/ready to see both workers', async () => (last = await ready()).body['workers'] === 2, 10_000);
  return last!;
};
const warnings = () =>
  stack.logs.lines.filter((line) => String(line['msg']).startsWith('workers use different memory databases'));
const databaseId = async () =>
  (await stack.db.selectFrom('memory_identity').select('database_id').executeTakeFirstOrThrow()).database_id;

const first = await startWorker(stack.dataDir);

t.test('two workers of an agent on different DATA_DIRs: degraded, naming the agent and both', async (t) => {
  const second = await startWorker(otherDataDir);
  const { status, body } = await readyWithBoth();
  t.equal(status, 200, 'the agent still answers: this gateway stays in the balancer');
  t.equal(body['status'], 'degraded');
  t.match(body, { workers: 2, agents: { code_review: 2 } });
  const reason = String(body['reason']);
  t.match(reason, /workers of agent code_review use different memory databases: /);
  t.match(reason, /give every worker the same DATA_DIR or DATABASE_URL/);
  t.ok(reason.includes(`database ${await databaseId()} on worker ${String(first.ready['id'])}`), reason);
  t.ok(reason.includes(`on worker ${String(second.ready['id'])}`), reason);
  t.match(second.output(), /"memoryId":"[0-9a-f-]{36}"/, "a worker's log says which database it writes");

  await ready();
  t.equal(warnings().length, 1, 'the gateway warned once, for every poll');
  t.match(warnings()[0], { level: 40, reason });

  t.equal(await second.stop(), 0);
  started.splice(started.indexOf(second), 1);
});

t.test('two workers of an agent on the same DATA_DIR: ready', async (t) => {
  await startWorker(stack.dataDir);
  const { status, body } = await readyWithBoth();
  t.equal(status, 200);
  t.match(body, { status: 'ready', workers: 2, agents: { code_review: 2 } });
  t.notOk('reason' in body);
});
