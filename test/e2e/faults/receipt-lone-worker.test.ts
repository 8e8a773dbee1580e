import t from 'tap';
import { startGatewayProcess, startWorkerProcess, type TestProcess } from '../../helpers/processes.js';
import { AUTH, startStack } from '../../helpers/stack.js';
import { sleep, waitFor, waitUntil } from '../../helpers/wait.js';

// The deployment `npm start` makes: one worker, restarted by its supervisor. That worker is killed
// after its `done` went out and before its commit, while the gateway has not yet handed the
// answer to its client (the gateway process held with SIGSTOP, as a stalled event loop would be).
// The client then gets the whole answer; no worker listens until the next one starts, a moment
// later. The gateway's receipt must still reach it (memory.commit), or the turn stays pending for good.
const stack = await startStack({ workerAgents: false, env: { REQUEST_TIMEOUT_MS: '30000' } });
const workerEnv = {
  NATS_URL: stack.natsUrl,
  OLLAMA_URL: stack.ollama.url,
  DATA_DIR: stack.dataDir,
  DEFAULT_MODEL: 'llama3.2',
  CACHE_TTL_SECONDS: '0',
};
const gateway = await startGatewayProcess({
  NATS_URL: stack.natsUrl,
  DATA_DIR: stack.dataDir,
  LOG_DIR: `${stack.dataDir}/logs`,
  DEFAULT_MODEL: 'llama3.2',
  CACHE_TTL_SECONDS: '0',
  REQUEST_TIMEOUT_MS: '30000',
});
const baseUrl = gateway.ready['url'] as string;
const running: TestProcess[] = [];
t.teardown(async () => {
  gateway.child.kill('SIGCONT');
  for (const worker of running) await worker.kill();
  await gateway.stop();
  await stack.close();
});

t.test('a delivered turn whose only worker died before its commit is committed by the next worker', async (t) => {
  running.push(await startWorkerProcess(workerEnv, ['code_review']));
  stack.ollama.behave({ tokens: ['whole', ' answer'], firstTokenDelayMs: 300 });
  const asked = stack.ollama.requests.length;
  const answer = fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'code_review', messages: [{ role: 'user', content: 'explain this' }] }),
    signal: AbortSignal.timeout(20_000),
  });
  await waitFor('the request to reach the model', () => stack.ollama.requests.length > asked);
  gateway.child.kill('SIGSTOP');
  const pending = () =>
    stack.workerDb.selectFrom('turns').select(['request_id', 'state']).where('state', '=', 'pending').execute();
  await waitFor('the worker to write its turn pending', async () => (await pending()).length === 1);
  await sleep(300); // its done request goes out right after the write
  await running.pop()!.kill();
  gateway.child.kill('SIGCONT');

  const res = await answer;
  t.equal(res.status, 200);
  const body = await res.json();
  t.equal(body.choices[0].message.content, 'whole answer', 'the client has the whole answer');
  const requestId = res.headers.get('x-request-id')!;

  await sleep(500); // the supervisor's first restart waits 0.5 s
  running.push(await startWorkerProcess(workerEnv, ['code_review']));
  const committed = await waitUntil(async () => {
    const rows = await stack.workerDb.selectFrom('turns').select('state').where('request_id', '=', requestId).execute();
    return rows.length === 1 && rows[0]!.state === 'committed';
  }, 10_000);
  t.ok(committed, 'the turn its client received is in the conversation');
});
