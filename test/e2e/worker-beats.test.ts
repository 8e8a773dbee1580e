import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { startWorkerProcess } from '../helpers/processes.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { sleep } from '../helpers/wait.js';

// A live worker that reads its requests late (a burst queued in its socket) is waited for; a
// dead one is still found out. Real gateway, nats-server and worker process: the worker reaches
// NATS through a loopback relay that can hold back what the server sends it, while what the
// worker sends (its beats) passes. HEARTBEAT_MS=500: the silence limit is 1.5 s.

const SILENCE_MS = 1500;
const stack = await startStack({
  workerAgents: false,
  env: { HEARTBEAT_MS: '500', FIRST_TOKEN_TIMEOUT_MS: '20000', REQUEST_TIMEOUT_MS: '30000' },
});
t.teardown(() => stack.close());

/** Server-to-worker bytes wait in `held` while it is set; worker-to-server bytes always pass. */
const relay = { held: null as Array<{ to: Socket; chunk: Buffer }> | null, sockets: new Set<Socket>() };
const natsPort = Number(new URL(stack.natsUrl).port);
const proxy = createServer((worker) => {
  const server = tcpConnect(natsPort, '127.0.0.1');
  relay.sockets.add(worker).add(server);
  worker.on('data', (chunk) => server.write(chunk));
  server.on('data', (chunk) => (relay.held ? relay.held.push({ to: worker, chunk }) : worker.write(chunk)));
  const close = () => {
    worker.destroy();
    server.destroy();
  };
  for (const socket of [worker, server]) socket.on('close', close).on('error', close);
});
await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
t.teardown(() => {
  for (const socket of relay.sockets) socket.destroy();
  proxy.close();
});
const holdBack = () => {
  relay.held = [];
};
const letThrough = () => {
  const held = relay.held ?? [];
  relay.held = null;
  for (const { to, chunk } of held) if (!to.destroyed) to.write(chunk);
};

const worker = await startWorkerProcess(
  {
    NATS_URL: `nats://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    OLLAMA_URL: stack.ollama.url,
    DATA_DIR: stack.dataDir,
    DEFAULT_MODEL: 'llama3.2',
  },
  ['testing'],
);
t.teardown(() => worker.kill());

const ask = () =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'hello' }] }),
  });

const unreadWaits = async () => {
  const text = await (await fetch(`${stack.baseUrl}/metrics`)).text();
  return Number(/^agentbus_unread_waits_total\{agent="testing"\} (\d+)/m.exec(text)?.[1] ?? 0);
};

t.test('a request the live worker reads after twice the silence limit is answered, not retried', async (t) => {
  t.equal((await ask()).status, 200, 'the worker answers through the relay');
  holdBack();
  const started = Date.now();
  const pending = ask();
  // Without the beats this request would have failed twice (worker_lost, then its retry) by now.
  await sleep(2 * SILENCE_MS + 1000);
  letThrough();
  const res = await pending;
  t.equal(res.status, 200);
  const body = await res.json();
  t.ok(Date.now() - started >= 2 * SILENCE_MS, 'it was held for longer than two silence limits');
  t.equal(body.meta.fallback, undefined, 'no retry: the first attempt answered');
  t.equal(body.meta.worker, worker.ready['id']);
  t.ok((await unreadWaits()) >= 2, 'each silence limit passed is counted as a wait');
});

t.test('a frozen worker (SIGSTOP) is not waited for: its requests are retried at the silence limit', async (t) => {
  const frozen = await startWorkerProcess(
    { NATS_URL: stack.natsUrl, OLLAMA_URL: stack.ollama.url, DATA_DIR: stack.dataDir, DEFAULT_MODEL: 'llama3.2' },
    ['testing'],
  );
  t.teardown(() => frozen.kill());
  frozen.child.kill('SIGSTOP');
  // Past 3 beats: the gateway now takes it for a suspect nats-server may still hand requests.
  await sleep(4000);
  // Each attempt reaches the frozen worker with even odds; the retry too, then the client gets 502.
  let affected: { ms: number; status: number; body: { meta?: { fallback?: unknown }; error?: { code: string } } };
  for (let i = 0; i < 12; i++) {
    const started = Date.now();
    const res = await ask();
    affected = { status: res.status, body: await res.json(), ms: Date.now() - started };
    if (affected.status !== 200 || affected.body.meta?.fallback) break;
  }
  t.ok(affected!.status !== 200 || affected!.body.meta?.fallback, 'a request reached the frozen worker');
  if (affected!.status !== 200) t.equal(affected!.body.error?.code, 'worker_lost');
  // Without the suspect rule it would wait for FIRST_TOKEN_TIMEOUT_MS (20 s) while the other worker beats.
  t.ok(affected!.ms < 10_000, `given up on after the silence limit: ended in ${affected!.ms} ms`);
  frozen.child.kill('SIGCONT');
  await frozen.kill();
});

t.test('a request held at a worker that dies is still worker_lost, long before the first-token limit', async (t) => {
  holdBack();
  const started = Date.now();
  const pending = ask();
  await sleep(200);
  await worker.kill();
  const res = await pending;
  const elapsed = Date.now() - started;
  const body = await res.json();
  // The retry finds nobody serving the agent: no_worker. Either way, no first-token timeout.
  t.match(body.error.code, /^(worker_lost|no_worker)$/);
  t.match(body.error.message, /No frame from the worker/);
  t.ok(elapsed < 20_000, `ended by the stopped beats after ${elapsed} ms, not by FIRST_TOKEN_TIMEOUT_MS`);
});
