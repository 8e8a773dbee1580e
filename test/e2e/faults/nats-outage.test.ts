import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadCatalog } from '../../../common/catalog.js';
import { createLogger } from '../../../common/logger.js';
import { connectBus } from '../../../common/bus.js';
import { buildApp } from '../../../gateway/app.js';
import { loadGatewayConfig } from '../../../gateway/config.js';
import { startFakeOllama } from '../../helpers/fake-ollama.js';
import { startRestartableNats, startWorkerProcess, testStackEnv } from '../../helpers/processes.js';
import { AUTH, LogSink } from '../../helpers/stack.js';
import { sleep, waitFor } from '../../helpers/wait.js';

// The gateway runs in-process on the same reconnecting connection gateway/server.ts makes
// (connectBus); the worker is a real process. Only the test's own nats-server goes down.
const nats = await startRestartableNats();
const ollama = await startFakeOllama();
const dataDir = mkdtempSync(join(tmpdir(), 'agentbus-data-'));
const env = { ...testStackEnv(nats.url, ollama.url, dataDir), HEARTBEAT_MS: '200', PORT: '0' };
const logs = new LogSink();
const log = createLogger('test', { level: 'info', destination: logs });
const worker = await startWorkerProcess(env, ['code_review']);
const bus = await connectBus({ url: nats.url, role: 'gateway', name: 'agentbus-gateway', log });
const config = loadGatewayConfig(env);
const app = await buildApp({ config, bus, catalog: loadCatalog(config.agentsFile, 'llama3.2'), logger: log });
const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
t.teardown(async () => {
  await app.close();
  await bus.close();
  await worker.stop();
  await ollama.close();
  await nats.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

const ready = async () => {
  const res = await fetch(`${baseUrl}/ready`);
  return { status: res.status, body: await res.json() };
};
interface Result {
  status: number;
  code?: string;
  retryAfter: string | null;
}
async function ask(): Promise<Result> {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'code_review', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = await res.json();
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    ...(body.error ? { code: body.error.code } : {}),
  };
}

t.test('healthy: /ready is 200 with NATS connected and the workers per agent', async (t) => {
  const { status, body } = await ready();
  t.equal(status, 200);
  t.match(body, {
    status: 'ready',
    nats: 'connected',
    workers: 1,
    agents: { code_review: 1, code_generation: 0 },
    backend: { ollama: { reachable: 1, unreachable: 0 } },
  });
  t.equal((await ask()).status, 200);
});

t.test(
  'NATS stopped and started again under load: fast 503 bus_unavailable meanwhile, then everything reconnects',
  async (t) => {
    ollama.behave({ tokens: ['ok'], tokenDelayMs: 20 });
    // Background load through the outage: 2 clients, a request every ~50 ms each, bounded.
    const results: Result[] = [];
    let loading = true;
    const load = Promise.all(
      [0, 1].map(async () => {
        for (let i = 0; loading && i < 400; i++) {
          results.push(await ask());
          await sleep(50); // the pace of the load, not a wait for anything
        }
      }),
    );
    const succeeded = () => results.filter((r) => r.status === 200).length;
    await waitFor('the load to be running', () => succeeded() >= 2);
    await nats.stop();
    await waitFor('the gateway to notice the outage', () => !bus.connected);

    const during = await ask();
    // bus_unavailable comes only from refusing to publish while cut off; a request that waited
    // for a timer would end in worker_lost or deadline_exceeded (REQUEST_TIMEOUT_MS is 120 s here).
    t.match(
      during,
      { status: 503, code: 'bus_unavailable', retryAfter: '1' },
      'a request during the outage: 503 bus_unavailable at once, not after a timeout',
    );
    const notReady = await ready();
    t.equal(notReady.status, 503);
    t.match(notReady.body, { status: 'unavailable', nats: 'disconnected', reason: /disconnected from NATS/ });

    const failed = () => results.length - succeeded();
    await waitFor('the load to meet the outage', () => failed() >= 4);
    // The outage's length is the scenario, not a wait for something: long enough that the
    // clients' reconnect attempts (every 500 ms) fail a few times.
    await sleep(1500);
    await nats.start();
    await waitFor('/ready to be 200 again with the worker back', async () => {
      const now = await ready();
      return now.status === 200 && now.body.agents.code_review === 1;
    });
    t.pass('ready again after NATS came back');
    const after = await ask();
    t.equal(after.status, 200, 'requests succeed again, no restart of gateway or worker');
    const succeededAfter = succeeded();
    await waitFor('the load to succeed again', () => succeeded() >= succeededAfter + 2);
    loading = false;
    await load;

    t.equal(worker.child.exitCode, null, 'the worker process kept running');
    const failures = results.filter((r) => r.status !== 200);
    t.ok(failures.length > 0, `${failures.length} of ${results.length} requests failed during the outage`);
    t.ok(results.at(-1)!.status === 200, 'the load succeeds again at the end');
    // Every failure is retryable and fast: bus_unavailable and no_worker come from the bus
    // refusing at once; one that waited for the idle or deadline timer would be worker_lost or
    // deadline_exceeded.
    t.same(
      failures.filter(
        (r) => !(r.status === 503 && r.retryAfter === '1' && ['bus_unavailable', 'no_worker'].includes(r.code!)),
      ),
      [],
      'every failure is a retryable 503, and came fast',
    );
  },
);
