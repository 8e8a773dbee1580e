import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import t from 'tap';
import { passwordFileOf } from '../../scripts/lib/nats-credentials.js';
import { openMigratedMemory } from '../../workers/memory/open.js';
import { redactDatabaseUrl } from '../../workers/memory/settings.js';
import {
  AGENT,
  LAST_TOKEN,
  assertReconciled,
  converse,
  promptOf,
  reconcile,
  summary,
  type Outcome,
} from '../helpers/chaos.js';
import { startFakeOllama, type FakeOllama } from '../helpers/fake-ollama.js';
import { startTestCluster } from '../helpers/nats-cluster.js';
import { createTestNetwork } from '../helpers/netns.js';
import { startTestPostgres } from '../helpers/postgres.js';
import { runScriptToExit, startGatewayProcess, startWorkerProcess, type TestProcess } from '../helpers/processes.js';
import { AUTH } from '../helpers/stack.js';
import { sleep, waitFor } from '../helpers/wait.js';

// agentbus across hosts (issue 17): four "hosts", each a network namespace with its own address
// on one bridge — A, B and C each run a node of the NATS cluster (nats-cluster.conf, R3 JetStream
// assets) and a worker; G runs two gateways — with memory on one PostgreSQL and the fake model
// servers on the bridge, reachable from all. A conversation moves between hosts, limits and the
// cache hold across gateways, host A dies mid-load and comes back, and every client outcome is
// reconciled against memory. Without network namespaces (not root), the same on 127.0.0.x.

const net = createTestNetwork(4, (line) => t.comment(line));
t.comment(
  net.kind === 'netns'
    ? `hosts: ${net.hosts.map((h) => `${h.name} ${h.address}`).join(', ')} (network namespaces on one bridge)`
    : `network namespaces unavailable (${net.why}): the hosts are loopback addresses`,
);
const [hostA, hostB, hostC, hostG] = net.hosts as [(typeof net.hosts)[0], ...(typeof net.hosts)[number][]];
const workerHosts = [hostA, hostB!, hostC!];

// Undone in reverse: processes first, the network last.
const undo: Array<() => unknown> = [() => net.dispose()];
t.teardown(async () => {
  for (const step of undo.reverse()) await step();
});
const pg = await startTestPostgres({ host: net.clientAddress });
undo.push(() => pg.dispose());
const cluster = await startTestCluster(3, workerHosts);
undo.push(() => cluster.dispose());
const ollamas: FakeOllama[] = [];
undo.push(() => Promise.all(ollamas.map((ollama) => ollama.close())));
const processes = new Set<TestProcess>();
undo.push(async () => {
  for (const p of processes) await p.kill();
});
const dir = cluster.dir;
// Each worker host's model server: which host answered is the fake that got the call. Every
// answer is unique to its call, so a retried attempt's text never passes for the delivered one.
for (const [i, host] of workerHosts.entries()) {
  const ollama = await startFakeOllama(undefined, { host: net.clientAddress });
  ollama.behave({
    tokensFor: (request, n) => [`${host.name}#${n} `, `re(${promptOf(request)})`, ' t0', ' t1', ' t2', LAST_TOKEN],
    tokens: [],
    tokenDelayMs: 60,
  });
  ollamas[i] = ollama;
}

const tiersFile = join(dir, 'rate-tiers.json');
writeFileSync(
  tiersFile,
  JSON.stringify({
    tiers: { standard: { requests_per_minute: 4, concurrent_streams: 4 }, premium: {}, unlimited: {} },
  }),
);
const keysFile = join(dir, 'keys.json');
const as = (role: 'gateway' | 'worker' | 'admin') => ({
  NATS_USER: role,
  NATS_PASSWORD_FILE: passwordFileOf(dir, role),
});
const common = {
  NATS_URL: cluster.natsUrl,
  DATABASE_URL: pg.url,
  DEFAULT_MODEL: 'llama3.2',
  LOG_LEVEL: 'info',
  NATS_PASSWORD: '',
  JETSTREAM_REPLICAS: '',
  CACHE_TTL_SECONDS: '120',
  AUDIT: 'on',
  RATE_TIERS_FILE: tiersFile,
  KEYS_FILE: keysFile,
  MAX_INFLIGHT: '16',
};

// Everything is set up before the first subtest: tap ends the file once its subtests are done.
const setup = await runScriptToExit('scripts/bus-setup.ts', [], { ...common, ...as('admin') });
const limitedKey = async (name: string) => {
  const run = await runScriptToExit(
    'scripts/keys.ts',
    ['create', '--name', name, '--tier', 'standard', '--agents', AGENT],
    { ...common, DATA_DIR: dir },
  );
  if (run.code !== 0) throw new Error(`keys create failed: ${run.stderr}`);
  return run.stdout.trim();
};
const limited = [await limitedKey('limited-before'), await limitedKey('limited-after'), await limitedKey('probe')];

const workers: Array<TestProcess | undefined> = [];
async function startWorker(i: number): Promise<void> {
  const host = workerHosts[i]!;
  const env = {
    ...common,
    ...as('worker'),
    OLLAMA_URL: ollamas[i]!.url,
    DATA_DIR: join(dir, host.name),
    LOG_DIR: join(dir, host.name, 'logs'),
  };
  const worker = await startWorkerProcess(env, [AGENT], { launcher: host.launcher });
  processes.add(worker);
  workers[i] = worker;
}
const gatewayUrls: string[] = [];
for (const n of [1, 2]) {
  const gateway = await startGatewayProcess(
    {
      ...common,
      ...as('gateway'),
      HOST: hostG!.address,
      API_KEYS: 'local-only',
      API_KEYS_TIER: 'unlimited',
      HEARTBEAT_MS: '200',
      REQUEST_TIMEOUT_MS: '20000',
      DATA_DIR: join(dir, `gateway${n}`),
      LOG_DIR: join(dir, `gateway${n}`, 'logs'),
    },
    { launcher: hostG!.launcher },
  );
  processes.add(gateway);
  gatewayUrls.push(String(gateway.ready['url']));
}
const [gw1, gw2] = gatewayUrls as [string, string];

const chat = (baseUrl: string, content: string, headers: Record<string, string> = {}) =>
  fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, ...headers },
    // temperature 0: a deterministic request, which the response cache serves (CACHE_MODE).
    body: JSON.stringify({ model: AGENT, messages: [{ role: 'user', content }], temperature: 0 }),
  });
const readyWorkers = async (baseUrl: string) => {
  const res = await fetch(`${baseUrl}/ready`);
  return res.status === 200 ? ((await res.json()) as { workers: number }).workers : 0;
};

t.test('bus:setup made the JetStream assets with 3 replicas across the hosts', async (t) => {
  t.equal(setup.code, 0, setup.stderr);
  t.match(setup.stdout, /JetStream replicas 3: cluster "agentbus" has 3 or more JetStream nodes up/);
});

t.test("a conversation begun on host A's worker goes on through the other gateway on another host", async (t) => {
  await startWorker(0);
  await waitFor('gateway 1 to see the worker', async () => (await readyWorkers(gw1)) === 1, 30_000);
  const first = await chat(gw1, 'my name is Ada', { 'cache-control': 'no-cache' });
  t.equal(first.status, 200);
  const session = first.headers.get('x-session-id')!;
  t.equal(ollamas[0]!.requests.length, 1, "host A's worker answered turn 1");
  const firstText = ((await first.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message
    .content;

  await startWorker(1);
  await startWorker(2);
  await workers[0]!.stop();
  processes.delete(workers[0]!);
  await waitFor('gateway 2 to see the workers of B and C', async () => (await readyWorkers(gw2)) === 2, 30_000);
  const second = await chat(gw2, 'what is my name?', { 'x-session-id': session, 'cache-control': 'no-cache' });
  t.equal(second.status, 200);
  const answeredBy = ollamas.findIndex((o, i) => i > 0 && o.requests.length === 1);
  t.ok(answeredBy > 0, `host ${workerHosts[answeredBy]?.name} answered turn 2`);
  t.same(
    ollamas[answeredBy]!.requests[0]!.messages.filter((m) => m.role !== 'system').map((m) => m.content),
    ['my name is Ada', firstText, 'what is my name?'],
    'with the whole history written on host A',
  );
  await startWorker(0);
  await waitFor('both gateways to see three workers', async () => (await readyWorkers(gw1)) === 3, 30_000);
});

/** A key of 4 requests a minute, alternating gateways: 4 answered, the rest 429. */
async function limitAcrossGateways(key: string, label: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) {
    const res = await chat(i % 2 ? gw2 : gw1, `${label} ${i}`, { authorization: `Bearer ${key}` });
    statuses.push(res.status);
    await res.body?.cancel();
  }
  return statuses.sort();
}

/**
 * An answer written through one gateway is a cache hit through the other, whichever worker reads
 * it. The worker writes the cache after its answer is out, and any replica of the cache's stream
 * answers a read (a direct get), one still catching up after a node's loss too: a hit may take a
 * moment on each host.
 */
async function cacheAcrossHosts(content: string): Promise<Array<string | null>> {
  const ask = async (baseUrl: string) => {
    const res = await chat(baseUrl, content);
    await res.body?.cancel();
    return res.headers.get('x-cache');
  };
  // The entry is written once the first answer's receipt is committed; after a host's loss that
  // may take the cluster a few seconds: asked again every 250 ms, for up to 10 s.
  const hitThrough = async (baseUrl: string) => {
    let answer = await ask(baseUrl);
    for (let i = 0; i < 40 && answer !== 'HIT'; i++) {
      await sleep(250);
      answer = await ask(baseUrl);
    }
    return answer;
  };
  const first = await ask(gw1);
  return [first, await hitThrough(gw2), await hitThrough(gw2), await hitThrough(gw1)];
}

t.test("one key's rate limit holds across both gateways; a cache entry is a hit on every host", async (t) => {
  t.same(await limitAcrossGateways(limited[0]!, 'limited'), [200, 200, 200, 200, 429, 429, 429, 429]);
  t.same(await cacheAcrossHosts('a cached question'), ['MISS', 'HIT', 'HIT', 'HIT']);
});

const outcomes: Outcome[] = [];
const auditCount = async () => {
  const nc = await connect({
    servers: cluster.nodes.filter((n) => n.server).map((n) => n.url),
    user: 'admin',
    pass: cluster.serverEnv['AGENTBUS_NATS_ADMIN_PASSWORD']!,
    inboxPrefix: '_INBOX.admin',
  });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000, checkAPI: false });
    const info = await jsm.streams.info('AGENTBUS_AUDIT');
    return { messages: info.state.messages, replicas: info.config.num_replicas };
  } finally {
    await nc.close();
  }
};

t.test('host A dies under load: 0 lost, 0 phantom, 0 duplicated; the JetStream assets keep serving', async (t) => {
  let stop = false;
  const conversations = Array.from({ length: 8 }, (_, c) =>
    converse(
      `hostloss-${c}`,
      {
        turns: 6,
        mode: (turn) => ((c + turn) % 2 ? 'sse' : 'json'),
        stop: () => stop,
        // Each turn through the other gateway: the conversation lives in PostgreSQL, not in a host.
        baseUrl: (() => {
          let n = c;
          return () => gatewayUrls[n++ % 2]!;
        })(),
      },
      outcomes,
    ),
  );
  await waitFor('load on every host', () => ollamas.every((o) => o.requests.some((r) => r.endedAt === undefined)));
  const lostAt = outcomes.length;
  // Host A, hard: its NATS node and its worker SIGKILLed at once.
  await Promise.all([cluster.kill(cluster.nodes[0]!), workers[0]!.kill()]);
  processes.delete(workers[0]!);
  const loadEnd = Promise.all(conversations);
  const bound = setTimeout(() => (stop = true), 90_000);
  await loadEnd;
  clearTimeout(bound);

  const after = outcomes.slice(lostAt);
  t.ok(
    after.filter((o) => o.kind !== 'complete').every((o) => o.kind === 'error' && o.code),
    'a request the loss hit ends in an explicit error, never a silent cut',
  );
  const db = (
    await openMigratedMemory({
      dialect: 'postgres',
      url: pg.url,
      shownUrl: redactDatabaseUrl(pg.url),
      poolSize: 2,
      preparedStatements: true,
    })
  ).db;
  t.teardown(() => db.destroy());
  const modelRequests = () => ollamas.flatMap((o) => o.requests);
  const r = await reconcile({ db, baseUrl: gw1, modelRequests }, outcomes, (prompt) => prompt.startsWith('hostloss-'));
  t.comment(summary('host loss', r, 'host A (its NATS node and worker) SIGKILLed mid-load'));
  t.ok(r.complete > outcomes.length / 2, `${r.complete} of ${outcomes.length} complete`);
  assertReconciled(t, r);

  // Two of three replicas left: limits, cache and audit stream still work — once the streams
  // have their new leaders. Until then a limited key gets 503 rate_limit_unavailable
  // (RATE_LIMIT_STORE_DOWN=closed, the default; the load above uses unlimited keys, which never
  // ask the store): a key of its own finds when it holds again.
  await waitFor(
    'the rate limits to hold again',
    async () => {
      const res = await chat(gw1, 'probe', { authorization: `Bearer ${limited[2]!}` });
      await res.body?.cancel();
      return res.status === 429;
    },
    30_000,
  );
  // The audit stream elects its own leader, apart from the rate limit bucket's: wait for it too.
  let auditBefore: Awaited<ReturnType<typeof auditCount>> | undefined;
  await waitFor(
    'the audit stream to answer',
    async () => (auditBefore = await auditCount().catch(() => undefined)) !== undefined,
    30_000,
  );
  t.same(await limitAcrossGateways(limited[1]!, 'after the loss'), [200, 200, 200, 200, 429, 429, 429, 429]);
  t.same(await cacheAcrossHosts('a question after the loss'), ['MISS', 'HIT', 'HIT', 'HIT']);
  const audit = await auditCount();
  t.equal(audit.replicas, 3);
  t.ok(audit.messages > auditBefore!.messages, `the audit stream takes new records (${audit.messages} messages)`);
});

t.test('host A comes back: it rejoins and takes work, nothing else restarted', async (t) => {
  const others = [...processes];
  await cluster.restart(cluster.nodes[0]!);
  await startWorker(0);
  await waitFor('both gateways to see three workers', async () => (await readyWorkers(gw2)) === 3, 30_000);
  const before = ollamas[0]!.requests.length;
  for (let i = 0; i < 30 && ollamas[0]!.requests.length === before; i++) {
    const res = await chat(i % 2 ? gw2 : gw1, `back ${i}`, { 'cache-control': 'no-cache' });
    t.equal(res.status, 200);
    await res.body?.cancel();
  }
  t.ok(ollamas[0]!.requests.length > before, "host A's worker answers again");
  t.ok(
    others.every((p) => p.child.exitCode === null && p.child.signalCode === null),
    'the gateways and the other workers ran on throughout',
  );
});
