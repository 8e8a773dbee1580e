import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';
import { waitFor, waitUntil } from '../helpers/wait.js';

const stack = await startStack();
t.teardown(() => stack.close());
const body = (stream: boolean) =>
  JSON.stringify({ model: 'code_review', stream, messages: [{ role: 'user', content: 'long answer please' }] });
const rowCount = async () => (await stack.db.selectFrom('turns').selectAll().execute()).length;
const errorLogs = () => stack.logs.lines.filter((l) => (l['level'] as number) >= 50);
// The worker logs a cancel where it gives the request up: from that line on, nothing is stored.
const cancelLogs = () =>
  stack.logs.lines.filter((l) => l['worker'] !== undefined && l['code'] === 'request_cancelled').length;

t.test('a streaming client that leaves stops the model call, and nothing is stored', async (t) => {
  const before = await rowCount();
  const cancelsBefore = cancelLogs();
  // 10 s of answer: the backend sees an abort (not a finished answer) only if the client's leaving reached it.
  stack.ollama.behave({ tokens: Array.from({ length: 200 }, (_, i) => `t${i} `), tokenDelayMs: 50 });
  const abort = new AbortController();
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: body(true),
    signal: abort.signal,
  });
  const reader = res.body!.getReader();
  await reader.read(); // the role chunk, at least
  abort.abort();
  await waitFor('the backend request to be aborted', () => stack.ollama.requests.at(-1)!.aborted);
  t.ok(await waitUntil(() => cancelLogs() > cancelsBefore), 'the worker logged the cancel');
  t.equal(await rowCount(), before, 'the unseen answer was not stored');
  t.same(errorLogs(), [], 'nothing logged as an error');
});

t.test('a non-streaming client that leaves: same, and no error is logged', async (t) => {
  const before = await rowCount();
  const cancelsBefore = cancelLogs();
  stack.ollama.behave({ tokens: ['slow'], firstTokenDelayMs: 30_000 });
  const sent = stack.ollama.requests.length;
  const abort = new AbortController();
  const pending = fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: body(false),
    signal: abort.signal,
  }).catch((err: Error) => err);
  await waitFor('the request to reach the model', () => stack.ollama.requests.length > sent);
  abort.abort();
  t.match(await pending, { name: 'AbortError' });
  await waitFor('the backend request to be aborted', () => stack.ollama.requests.at(-1)!.aborted);
  await waitFor('the worker to log the cancel', () => cancelLogs() > cancelsBefore);
  t.equal(await rowCount(), before);
  t.same(errorLogs(), [], 'a client leaving is not an error of ours');
});

t.test('$SRV.STATS reports answers and failures by code', async (t) => {
  stack.ollama.behave({});
  await fetch(`${stack.baseUrl}/v1/chat/completions`, { method: 'POST', headers: AUTH, body: body(false) });
  const reviewStats = async () => {
    const stats = [];
    for await (const s of await stack.bus.services().client().stats('agentbus-worker')) stats.push(s);
    return stats.flatMap((s) => s.endpoints ?? []).find((e) => e.name === 'code_review')?.data as
      { in_flight: number; answered: number } | undefined;
  };
  // The worker counts a request out just after its done frame went out: wait for that, bounded.
  let review = await reviewStats();
  await waitFor('the worker to count the answer out', async () => (review = await reviewStats())?.in_flight === 0);
  t.match(review, { in_flight: 0, answered: Number, failed: { request_cancelled: 2 } });
  t.ok(review!.answered >= 1);
});

t.test(
  'a worker stopping with answers still running past its drain time aborts them: worker_lost, nothing stored',
  async (t) => {
    const before = await rowCount();
    stack.ollama.behave({ tokens: ['never'], firstTokenDelayMs: 5000 });
    const sent = stack.ollama.requests.length;
    const pending = fetch(`${stack.baseUrl}/v1/chat/completions`, { method: 'POST', headers: AUTH, body: body(false) });
    await waitFor('the request to reach the model', () => stack.ollama.requests.length > sent);
    const worker = stack.workers.shift()!;
    await worker.stop(300);
    const res = await pending;
    // Nothing had reached the client, so the gateway retried: no other worker serves the agent.
    t.equal(res.status, 503);
    t.match(await res.json(), {
      error: {
        code: 'no_worker',
        message: /second attempt; before it: code_review: .*shut down before the answer finished/,
      },
    });
    t.equal(res.headers.get('x-should-retry'), 'true');
    t.equal(await rowCount(), before);
    await waitFor('the backend request to be aborted', () => stack.ollama.requests.at(-1)!.aborted);
    await stack.addWorker();
  },
);
