import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from '../../scripts/lib/child-process.js';
import { freePort } from '../../scripts/lib/ports.js';
import { isRunning } from '../../common/process-table.js';
import { startFakeOllama } from '../helpers/fake-ollama.js';
import { runStart, waitUntilGone } from '../helpers/npm-start.js';
import { AUTH } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// `npm start` as a supervisor: a crashed worker, gateway or nats-server comes back (same ports)
// while the rest keeps serving, and /metrics shows the restarts.

/** A copy of nats.conf naming a free port, so the stack never touches the machine's 4222. */
async function natsConfOnFreePort(dir: string): Promise<string> {
  const conf = join(dir, 'nats.conf');
  const port = await freePort('127.0.0.1');
  writeFileSync(conf, readFileSync(join(ROOT, 'nats.conf'), 'utf8').replace(/^port: \d+/m, `port: ${port}`));
  return conf;
}

/** The value of a series in a Prometheus text page, or undefined. */
function sample(page: string, series: string): number | undefined {
  const line = page.split('\n').find((l) => l.startsWith(series + ' ') || l.startsWith(series + '{'));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

t.test('a crashed worker, gateway or nats-server is restarted while the rest keeps serving', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-supervisor-'));
  const ollama = await startFakeOllama();
  t.teardown(async () => {
    await ollama.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const stack = runStart(
    {
      NATS_CONF: await natsConfOnFreePort(dir),
      PORT: '0',
      DATA_DIR: join(dir, 'data'),
      LOG_DIR: join(dir, 'logs'),
      OLLAMA_URL: ollama.url,
    },
    { teardown: t },
  );
  await stack.waitFor(/press Ctrl-C to stop/);
  const url = /gateway +(http:\/\/127\.0\.0\.1:\d+)/.exec(stack.output())![1]!;
  const natsUrl = /nats-server started at (nats:\/\/\S+)/.exec(stack.output())![1]!;
  const first = stack.pids();
  const health = async () => (await fetch(`${url}/health`).catch(() => undefined))?.status;
  const metrics = async () => (await fetch(`${url}/metrics`)).text();
  t.equal(sample(await metrics(), 'agentbus_process_restarts{process="gateway"}'), 0, 'no restart yet');

  // The worker: SIGKILL, the stack's only one.
  let mark = stack.output().length;
  process.kill(first.worker, 'SIGKILL');
  const workerBack = await stack.waitFor(/worker is back \(pid (\d+), restart 1\)/, 60_000, mark);
  t.match(
    stack.output().slice(mark),
    new RegExp(
      `worker \\(pid ${first.worker}\\) exited unexpectedly \\(signal SIGKILL\\); restarting it in 0.5 s \\(attempt 1\\)`,
    ),
    'the crash is logged with its signal and attempt',
  );
  t.notMatch(stack.output(), /stopping/, 'the stack did not stop');
  t.equal(await health(), 200, 'the gateway kept answering');
  const worker = Number(workerBack[1]);
  t.not(worker, first.worker, 'a new worker process');
  t.ok(isRunning(worker));
  // /metrics asks the workers over NATS; the new one reports its restart count.
  let page = '';
  await waitFor('the restarted worker in /metrics', async () => {
    page = await metrics();
    return /agentbus_worker_restarts\{worker="[^"]+"\} 1/.test(page);
  });
  t.equal(sample(page, 'agentbus_workers'), 1, 'and only it');
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'still there?' }] }),
  });
  t.equal(res.status, 200, 'the restarted worker answers');

  // The gateway: it comes back on the same port.
  mark = stack.output().length;
  process.kill(first.gateway, 'SIGKILL');
  const gatewayBack = await stack.waitFor(/gateway is back \(pid (\d+), restart 1\)/, 60_000, mark);
  t.not(Number(gatewayBack[1]), first.gateway);
  t.equal(await health(), 200, 'the same URL answers again');
  t.equal(sample(await metrics(), 'agentbus_process_restarts{process="gateway"}'), 1, 'and counts its restart');

  // nats-server: same port, same store; gateway and worker reconnect on their own.
  mark = stack.output().length;
  process.kill(first.nats!, 'SIGKILL');
  const natsBack = await stack.waitFor(/nats-server is back at (\S+) \(pid (\d+), restart 1\)/, 60_000, mark);
  t.equal(natsBack[1], natsUrl, 'on the same port');
  await waitFor('gateway and worker back on NATS', async () => (await fetch(`${url}/ready`)).status === 200, 30_000);

  const pids = stack.running();
  stack.child.kill('SIGINT');
  t.equal(await stack.exited, 0, 'Ctrl-C still stops it all');
  t.same(await waitUntilGone(pids), [], 'every process it started, restarted ones included, is gone');
});
