import t from 'tap';
import { AUTH, startStack } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';

// One model call at a time, one request waiting, and a wait long enough to outlast the
// gateway's idle limit (3 × HEARTBEAT_MS = 1 s at least): only heartbeats keep it waiting.
const QUEUE_TIMEOUT_MS = 1500;
const stack = await startStack({
  env: { MAX_INFLIGHT: '1', MAX_QUEUED: '1', QUEUE_TIMEOUT_MS: String(QUEUE_TIMEOUT_MS) },
});
t.teardown(() => stack.close());

const rowCount = async () => (await stack.db.selectFrom('turns').selectAll().execute()).length;
// The worker's own lines (the gateway logs every 5xx it answers at error level, by design).
const workerErrorLogs = () => stack.logs.lines.filter((l) => l['worker'] !== undefined && (l['level'] as number) >= 50);

interface Sent {
  status: number;
  ms: number;
  retryAfter: string | null;
  body: any;
}

/** Sends one chat request and times its answer (never rejects: an aborted one yields its error). */
function send(content: string, options: { stream?: boolean; signal?: AbortSignal } = {}): Promise<Sent | Error> {
  const started = Date.now();
  return fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({
      model: 'code_review',
      stream: options.stream ?? false,
      messages: [{ role: 'user', content }],
    }),
    ...(options.signal ? { signal: options.signal } : {}),
  }).then(
    async (res) => {
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // an SSE body stays text
      }
      return { status: res.status, ms: Date.now() - started, retryAfter: res.headers.get('retry-after'), body };
    },
    (err: Error) => err,
  );
}

const answered = (result: Sent | Error): Sent => {
  if (result instanceof Error) throw result;
  return result;
};

/** The worker's admission numbers, as `$SRV.STATS` reports them on the agent's endpoint. */
async function admissionStats(): Promise<{ model_calls: number; queued: number } & Record<string, unknown>> {
  for await (const stats of await stack.bus.services().client().stats('agentbus-worker')) {
    const endpoint = (stats.endpoints ?? []).find((e) => e.name === 'code_review');
    if (endpoint) return (endpoint.data as { admission: { model_calls: number; queued: number } }).admission;
  }
  throw new Error('no worker answered $SRV.STATS');
}

/** Sends `contents` at once; `settled` fills, in order of arrival, as their answers come in. */
function sendAll(contents: string[]) {
  const settled: Sent[] = [];
  const all = Promise.all(
    contents.map(async (content) => {
      const result = answered(await send(content));
      settled.push(result);
      return result;
    }),
  );
  return { settled, all };
}

t.test(
  'past MAX_INFLIGHT one request waits and succeeds, the rest get 503 overloaded at once; nothing of theirs is stored',
  async (t) => {
    stack.ollama.behave({ tokens: ['slow', ' answer'] });
    const before = await rowCount();
    const sentBefore = stack.ollama.requests.length;
    // The model answers nothing until released: what is answered meanwhile was refused at once.
    const release = stack.ollama.hold();
    t.teardown(release);
    const { settled, all } = sendAll([1, 2, 3, 4].map((n) => `request ${n}`));
    await waitFor('two answers while the model is held', () => settled.length >= 2);
    const refused = settled.slice();
    release();
    const results = await all;

    t.equal(results.filter((r) => r.status === 200).length, 2, 'the running request and the queued one succeed');
    t.same(
      refused.map((r) => r.status),
      [503, 503],
      'the two past MAX_INFLIGHT + MAX_QUEUED are refused, before the model finished anything',
    );
    for (const r of refused) {
      t.match(r.body, {
        error: {
          code: 'overloaded',
          type: 'server_error',
          message: /MAX_INFLIGHT.*MAX_QUEUED.*start more workers.*second attempt/s,
        },
      });
      t.equal(r.retryAfter, '1', 'Retry-After tells the client when to try again');
    }

    t.equal(
      stack.ollama.requests.length - sentBefore,
      2,
      'only the two admitted requests reached the model (the retries too were refused)',
    );
    const [first, second] = stack.ollama.requests.slice(sentBefore);
    t.ok(
      second!.receivedAt >= first!.endedAt!,
      'never two model calls at once: the queued request reached the model after the first call ended',
    );
    t.equal(await rowCount(), before + 2, 'a turn for each answer, none for the refused');
    t.same(
      await admissionStats(),
      { model_calls: 0, queued: 0, max_inflight: 1, max_queued: 1, queue_timeout_ms: QUEUE_TIMEOUT_MS },
      '$SRV.STATS shows the gate empty again',
    );
    t.same(workerErrorLogs(), [], 'refusing is not an error of the worker');
  },
);

t.test(
  'a request that waits past QUEUE_TIMEOUT_MS gets overloaded (heartbeats keep it alive meanwhile); a streamed refusal is a 503 too',
  async (t) => {
    stack.ollama.behave({ tokens: ['very slow'] });
    const before = await rowCount();
    const sentBefore = stack.ollama.requests.length;
    // The running call holds the one slot until released, after the waiting request's answer:
    // that answer can only come from the queue timeout, never from a slot freeing up.
    const release = stack.ollama.hold();
    t.teardown(release);
    const running = send('the long one');
    await waitFor('the first request to reach the model', () => stack.ollama.requests.length > sentBefore);
    const waiting = send('the waiting one');
    await waitFor('the second request to wait in the queue', async () => (await admissionStats()).queued === 1);

    // The queue is full: a streamed request is refused at once. A plain 503, not a 200 stream:
    // a queued request's first heartbeat would have started the stream.
    const streamed = answered(await send('a streamed one', { stream: true }));
    t.equal(streamed.status, 503, 'refused before any heartbeat: it never queued');
    t.equal(streamed.retryAfter, '1');
    t.match(streamed.body, { error: { code: 'overloaded' } });

    const waited = answered(await waiting);
    t.equal(waited.status, 503);
    t.match(waited.body, { error: { code: 'overloaded', message: /QUEUE_TIMEOUT_MS/ } });
    t.not((waited.body as { error: { code: string } }).error.code, 'worker_lost', 'heartbeats flowed while it waited');
    // The gateway retried once: the retry waited its own QUEUE_TIMEOUT_MS.
    t.ok(
      waited.ms >= 2 * QUEUE_TIMEOUT_MS - 100,
      `answered after ${waited.ms} ms (two waits of ${QUEUE_TIMEOUT_MS} ms)`,
    );
    t.equal(
      stack.ollama.requests.length - sentBefore,
      1,
      'neither the waiting nor the streamed request reached the model',
    );

    release();
    t.equal(answered(await running).status, 200, 'the running request finished normally');
    t.equal(await rowCount(), before + 1, 'only its turn is stored');
  },
);

t.test('a request cancelled while it waits leaves the queue and never reaches the model', async (t) => {
  stack.ollama.behave({ tokens: ['slow'] });
  const before = await rowCount();
  const sentBefore = stack.ollama.requests.length;
  // The running call holds the slot until the cancelled request has left the queue.
  const release = stack.ollama.hold();
  t.teardown(release);
  const running = send('the running one');
  await waitFor('the first request to reach the model', () => stack.ollama.requests.length > sentBefore);
  const abort = new AbortController();
  const leaving = send('the one that leaves', { signal: abort.signal });
  await waitFor('it to wait in the queue', async () => (await admissionStats()).queued === 1);
  t.match(
    await admissionStats(),
    { model_calls: 1, queued: 1 },
    '$SRV.STATS shows the call running and the one waiting',
  );

  abort.abort();
  t.match(await leaving, { name: 'AbortError' });
  await waitFor('the cancelled request to leave the queue', async () => (await admissionStats()).queued === 0);
  t.ok(
    stack.logs.lines.some((l) => l['code'] === 'request_cancelled'),
    'the worker logged the cancel',
  );

  release();
  t.equal(answered(await running).status, 200);
  // A request still queued by mistake would be handed the slot the running call freed, and hold
  // it through its model call: the gate coming back empty says none was.
  await waitFor('the gate to be empty again', async () => {
    const { model_calls, queued } = await admissionStats();
    return model_calls === 0 && queued === 0;
  });
  t.equal(stack.ollama.requests.length - sentBefore, 1, 'the cancelled request never reached the model');
  t.equal(await rowCount(), before + 1, 'nothing stored for it');
  t.same(workerErrorLogs(), []);
});

t.test(
  'a stopping worker refuses what waits (worker_lost, retried elsewhere) and lets the running call finish',
  async (t) => {
    stack.ollama.behave({ tokens: ['draining'] });
    const before = await rowCount();
    const sentBefore = stack.ollama.requests.length;
    // The running call holds on until the waiting request is answered: that answer came during
    // the stop, not after the drain.
    const release = stack.ollama.hold();
    t.teardown(release);
    const running = send('the running one');
    await waitFor('the first request to reach the model', () => stack.ollama.requests.length > sentBefore);
    const waiting = send('the waiting one');
    await waitFor('it to wait in the queue', async () => (await admissionStats()).queued === 1);

    const worker = stack.workers.shift()!;
    const stopping = worker.stop(30_000);
    const refused = answered(await waiting);
    release();
    // No other worker serves the agent, so the gateway's retry met nobody.
    t.equal(refused.status, 503);
    t.match(refused.body, {
      error: { code: 'no_worker', message: /before it: code_review: The worker shut down while this request waited/ },
    });
    t.equal(answered(await running).status, 200, 'the running call drained');
    await stopping;
    t.equal(stack.ollama.requests.length - sentBefore, 1, 'the refused request never reached the model');
    t.equal(await rowCount(), before + 1);
    await stack.addWorker();
  },
);
