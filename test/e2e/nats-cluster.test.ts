import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import t from 'tap';
import { passwordFileOf } from '../../scripts/lib/nats-credentials.js';
import { startFakeOllama } from '../helpers/fake-ollama.js';
import { nodeOfConnection, startTestCluster, type TestClusterNode } from '../helpers/nats-cluster.js';
import {
  runScriptToExit,
  startGatewayProcess,
  startWorkerProcess,
  type ScriptRun,
  type TestProcess,
} from '../helpers/processes.js';
import { sleep, waitFor } from '../helpers/wait.js';

// The repo's nats-cluster.conf on three nodes (same locked-down users as nats.conf, routes with
// their own password): bus:setup makes the JetStream assets with 3 replicas and says why; a
// gateway and a worker process given every node in NATS_URL serve chat; the node they are on is
// SIGKILLed and they move to a survivor on their own, with the response cache, the rate-limit
// bucket and the audit stream still served by the two remaining replicas.

const cluster = await startTestCluster();
const ollama = await startFakeOllama();
const processes: TestProcess[] = [];
const opened: NatsConnection[] = [];
t.teardown(async () => {
  for (const nc of opened) await nc.close().catch(() => undefined);
  for (const p of processes.reverse()) await p.stop();
  await ollama.close();
  await cluster.dispose();
});

const base = {
  NATS_URL: cluster.natsUrl,
  OLLAMA_URL: ollama.url,
  DATA_DIR: `${cluster.dir}/data`,
  LOG_DIR: `${cluster.dir}/logs`,
  API_KEYS: 'cluster-key',
  AUDIT: 'on',
  CACHE_TTL_SECONDS: '30',
  NATS_USER: '',
  NATS_PASSWORD: '',
  NATS_PASSWORD_FILE: '',
  JETSTREAM_REPLICAS: '',
};
const as = (role: 'gateway' | 'worker' | 'admin') => ({
  NATS_USER: role,
  NATS_PASSWORD_FILE: passwordFileOf(cluster.dir, role),
});
const STREAMS = ['AGENTBUS_AUDIT', 'KV_agentbus_responses', 'KV_agentbus_rate_limits'];

function runSetup(env: Record<string, string> = {}): Promise<ScriptRun> {
  return runScriptToExit('scripts/bus-setup.ts', [], { ...base, ...as('admin'), ...env }, { teardown: t });
}

/** The admin's JetStream view through the nodes still up. */
async function adminJsm(): Promise<JetStreamManager> {
  const nc = await connect({
    servers: cluster.nodes.filter((n) => n.server).map((n) => n.url),
    user: 'admin',
    pass: cluster.serverEnv['AGENTBUS_NATS_ADMIN_PASSWORD']!,
    inboxPrefix: '_INBOX.admin',
  });
  opened.push(nc);
  // No API check: right after a node dies the JetStream leader may be re-elected for a moment.
  return jetstreamManager(nc, { timeout: 5000, checkAPI: false });
}

t.test('bus:setup: JETSTREAM_REPLICAS=1 makes R1 assets, auto raises them to 3 and says why', async (t) => {
  const one = await runSetup({ JETSTREAM_REPLICAS: '1' });
  t.equal(one.code, 0, one.stderr);
  t.match(one.stdout, /JetStream replicas 1: JETSTREAM_REPLICAS=1\n/);
  t.match(one.stdout, /audit stream AGENTBUS_AUDIT created\n/);

  const auto = await runSetup();
  t.equal(auto.code, 0, auto.stderr);
  t.match(
    auto.stdout,
    /JetStream replicas 3: cluster "agentbus" has 3 or more JetStream nodes up \(a 3-replica probe stream was placed on n\d, n\d, n\d\)\n/,
  );
  t.match(auto.stdout, /audit stream AGENTBUS_AUDIT: replicas changed from 1 to 3\n/);
  t.match(auto.stdout, /response cache bucket agentbus_responses: replicas changed from 1 to 3\n/);
  t.match(auto.stdout, /rate limit bucket agentbus_rate_limits: replicas changed from 1 to 3\n/);
  t.match(auto.stdout, /done/);

  const jsm = await adminJsm();
  for (const stream of STREAMS) {
    const info = await jsm.streams.info(stream);
    t.equal(info.config.num_replicas, 3, `${stream} has 3 replicas`);
  }
  await t.rejects(jsm.streams.info('AGENTBUS_REPLICAS_PROBE'), /stream not found/, 'the probe stream is gone');
});

t.test('gateway and worker on the server list move to a survivor when their node is killed', async (t) => {
  const worker = await startWorkerProcess({ ...base, ...as('worker') }, ['testing']);
  processes.push(worker);
  const gateway = await startGatewayProcess({ ...base, ...as('gateway'), API_KEYS_TIER: 'standard' });
  processes.push(gateway);
  const url = String(gateway.ready['url']);
  const headers = { authorization: 'Bearer cluster-key', 'content-type': 'application/json' };
  const chat = (content: string) =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content }], temperature: 0 }),
    });

  const first = await chat('cached before the node dies');
  t.equal(first.status, 200, await first.clone().text());
  t.equal(first.headers.get('x-cache'), 'MISS');
  await first.arrayBuffer();
  // The worker writes the cache after answering (and to three replicas): wait for the entry.
  await waitFor('the answer to be cached', async () => {
    const hit = await chat('cached before the node dies');
    await hit.arrayBuffer();
    return hit.headers.get('x-cache') === 'HIT';
  });
  t.pass('the second identical request is a cache hit');

  const jsm = await adminJsm();
  const before = Object.fromEntries(
    await Promise.all(STREAMS.map(async (s) => [s, (await jsm.streams.info(s)).state.last_seq] as const)),
  );

  let workerNode: TestClusterNode | undefined;
  let gatewayNode: TestClusterNode | undefined;
  await waitFor('both processes to show up on a node', async () => {
    workerNode = await nodeOfConnection(cluster.nodes, 'agentbus-worker');
    gatewayNode = await nodeOfConnection(cluster.nodes, 'agentbus-gateway');
    return workerNode !== undefined && gatewayNode !== undefined;
  });
  const victim = workerNode!;
  const moved = ['agentbus-worker', ...(gatewayNode === victim ? ['agentbus-gateway'] : [])];
  t.comment(`worker on ${workerNode!.name}, gateway on ${gatewayNode!.name}: killing ${victim.name}`);
  await cluster.kill(victim);

  for (const name of moved) {
    await waitFor(
      `${name} to reconnect to a surviving node`,
      async () => (await nodeOfConnection(cluster.nodes, name)) !== undefined,
      30_000,
    );
  }
  t.pass(`${moved.join(' and ')} reconnected to a survivor`);

  let status = 0;
  await waitFor(
    'chat to work again',
    async () => {
      const again = await chat('answered after the node died');
      status = again.status;
      await again.arrayBuffer();
      return status === 200;
    },
    30_000,
  );
  t.equal(status, 200, 'chat works through the surviving nodes');

  // A cache call that failed during the move makes the worker reopen the bucket a few seconds
  // later (kv-bucket.ts); until then it misses. Requests drive the reopen.
  await waitFor(
    'the cache entry written before the kill to be a hit again',
    async () => {
      await sleep(250);
      const stillHit = await chat('cached before the node dies');
      await stillHit.arrayBuffer();
      return stillHit.headers.get('x-cache') === 'HIT';
    },
    30_000,
  );
  t.pass('the response cache entry survived on the other replicas');

  const after = await adminJsm();
  for (const stream of STREAMS) {
    await waitFor(
      `${stream} to take writes after the kill`,
      async () => {
        await sleep(250);
        await (await chat(`a new question for ${stream}`)).arrayBuffer();
        return ((await after.streams.info(stream).catch(() => undefined))?.state.last_seq ?? 0) > before[stream]!;
      },
      15_000,
    );
    t.pass(`${stream} took writes after the node was killed`);
  }

  await waitFor('/ready to answer 200', async () => {
    const ready = await fetch(`${url}/ready`);
    await ready.arrayBuffer();
    return ready.status === 200;
  });
  const metrics = await fetch(`${url}/metrics`);
  t.match(await metrics.text(), /agentbus_workers 1/, "/metrics still gathers the worker's $SRV.STATS");
  for (const p of [gateway, worker]) t.notMatch(p.output(), /Permissions Violation/);
});
