import { withTimeout } from '../../common/timeout.js';
import t from 'tap';
import { subjectsFor } from '../../bus-schemas/index.js';
import { AUTH, responseCacheEntries, startStack } from '../helpers/stack.js';
import { parseSse, sseJson } from '../helpers/sse.js';
import { sleep, waitFor } from '../helpers/wait.js';

const stack = await startStack({ env: { CACHE_TTL_SECONDS: '60' } });
t.teardown(() => stack.close());

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Samples named `name` whose labels include `labels`. */
const find = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
/** The sum of those samples (0 when none). */
const sum = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  find(samples, name, labels).reduce((total, s) => total + s.value, 0);

/**
 * One scrape. Bounded: /metrics waits at most its 500 ms for the workers' $SRV.STATS, so a
 * scrape that hangs (on a worker that is gone, or on a NATS that is gone) fails here.
 */
async function scrape(): Promise<{ status: number; type: string | null; samples: Sample[] }> {
  // No Authorization header: scrapers usually have none.
  const res = await fetch(`${stack.baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), samples: parseMetrics(text) };
}

const post = (body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, ...headers },
    body: JSON.stringify(body),
    signal,
  });
const ask = (model: string, content: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content }],
  ...extra,
});

t.test('counters, histograms and worker stats after a mix of requests', async (t) => {
  stack.ollama.behave({ tokens: ['a', 'b', 'c'] });
  const ok = await post(ask('code_review', 'review please'));
  t.equal(ok.status, 200);
  await ok.json();

  stack.ollama.behave({ tokens: ['x', 'y', 'z', 'w'] });
  const streamed = await post(ask('testing', 'stream please', { stream: true }));
  t.equal(streamed.status, 200);
  t.ok(sseJson(parseSse(await streamed.text()).events).length > 0);

  stack.ollama.behave({ tokens: ['cached', ' answer'] });
  for (let i = 0; i < 2; i++) {
    const entries = await responseCacheEntries(stack);
    const res = await post(ask('documentation', 'the same question', { temperature: 0 }));
    t.equal(res.status, 200);
    t.equal(res.headers.get('x-cache'), i === 1 ? 'HIT' : 'MISS');
    await res.json();
    // Cached once the turn is committed, after the client had the answer.
    if (i === 0) await waitFor('the answer in the cache', async () => (await responseCacheEntries(stack)) > entries);
  }

  const unknown = await post(ask('no_such_agent', 'anyone?'));
  t.equal(unknown.status, 404);
  t.match(await unknown.json(), { error: { code: 'model_not_found' } });

  // Each attempt (first and retry) meets a failing backend.
  stack.ollama.behaveInTurn([0, 1, 2, 3].map(() => ({ failWith: { status: 500, message: 'boom' } })));
  const failed = await post(ask('deployment', 'this will fail'));
  t.equal(failed.status, 502);
  t.match(await failed.json(), { error: { code: 'backend_error' } });
  stack.ollama.behave({});

  const { status, type, samples } = await scrape();
  t.equal(status, 200, 'no bearer token needed');
  t.match(type, /^text\/plain; version=0\.0\.4/);

  t.equal(sum(samples, 'agentbus_requests_total', { agent: 'code_review', status: '200' }), 1);
  t.equal(sum(samples, 'agentbus_requests_total', { agent: 'testing', status: '200' }), 1);
  t.equal(sum(samples, 'agentbus_requests_total', { agent: 'documentation', status: '200' }), 2);
  t.equal(sum(samples, 'agentbus_requests_total', { agent: 'deployment', status: '502' }), 1);
  t.same(
    find(samples, 'agentbus_requests_total', { agent: 'no_such_agent' }),
    [],
    'a name from the request never becomes a label',
  );
  t.equal(sum(samples, 'agentbus_cache_hits_total', { agent: 'documentation' }), 1);
  t.equal(sum(samples, 'agentbus_cache_hits_total', { agent: 'code_review' }), 0);

  t.equal(sum(samples, 'agentbus_errors_total', { code: 'backend_error' }), 1);
  t.equal(
    sum(samples, 'agentbus_errors_total', { code: 'model_not_found' }),
    1,
    'a refusal before any call counts too',
  );
  t.equal(
    sum(samples, 'agentbus_http_requests_total', { route: '/v1/chat/completions', method: 'POST', status: '404' }),
    1,
  );
  t.equal(
    sum(samples, 'agentbus_http_requests_total', { route: '/v1/chat/completions', method: 'POST', status: '200' }),
    4,
  );

  t.equal(
    sum(samples, 'agentbus_tokens_out_total', { agent: 'code_review' }),
    3,
    'completion tokens from the done frame',
  );
  t.equal(sum(samples, 'agentbus_tokens_out_total', { agent: 'testing' }), 4);
  t.equal(sum(samples, 'agentbus_tokens_in_total', { agent: 'code_review' }), 12, 'prompt tokens from the done frame');
  t.equal(sum(samples, 'agentbus_in_flight_requests'), 0, 'nothing open');

  for (const agent of ['code_review', 'testing', 'documentation', 'deployment']) {
    const calls = agent === 'documentation' ? 2 : 1;
    t.equal(
      sum(samples, 'agentbus_request_duration_seconds_count', { agent }),
      calls,
      `${agent}: one duration per call`,
    );
    t.equal(sum(samples, 'agentbus_request_duration_seconds_bucket', { agent, le: '+Inf' }), calls);
  }
  t.equal(
    sum(samples, 'agentbus_time_to_first_token_seconds_count', { agent: 'testing' }),
    1,
    'a streamed answer has a first token',
  );
  t.equal(
    sum(samples, 'agentbus_time_to_first_token_seconds_count', { agent: 'code_review' }),
    1,
    'so has a collected one',
  );
  t.equal(
    sum(samples, 'agentbus_time_to_first_token_seconds_count', { agent: 'deployment' }),
    0,
    'a failed call has none',
  );
  t.ok(find(samples, 'agentbus_gateway_process_cpu_user_seconds_total').length === 1, 'process metrics, prefixed');

  const worker = stack.workers[0]!.id;
  t.equal(sum(samples, 'agentbus_workers'), 1);
  t.equal(sum(samples, 'agentbus_worker_stats_up'), 1);
  t.equal(
    sum(samples, 'agentbus_worker_requests', { worker, endpoint: 'code_review' }),
    1,
    "the worker's $SRV.STATS, labelled by its id",
  );
  t.equal(sum(samples, 'agentbus_worker_answered', { worker, endpoint: 'code_review' }), 1);
  t.equal(sum(samples, 'agentbus_worker_answered', { worker, endpoint: 'documentation' }), 2);
  t.equal(sum(samples, 'agentbus_worker_in_flight', { worker, endpoint: 'code_review' }), 0);
  t.ok(
    sum(samples, 'agentbus_worker_failed', { worker, endpoint: 'deployment', code: 'backend_error' }) >= 1,
    'failed by code',
  );
  t.ok(
    find(samples, 'agentbus_worker_requests', { worker, endpoint: 'memory' }).length === 1,
    'every endpoint has a series',
  );
});

t.test('a call in flight shows in the gauge; a client leaving counts as 499', async (t) => {
  stack.ollama.behave({ tokens: ['slow', ' tokens', ' here'] });
  // The model answers nothing until released: the call stays in flight while the test looks.
  const release = stack.ollama.hold();
  t.teardown(release);
  const res = await post(ask('voice_processor', 'go slowly', { stream: true }));
  const reader = res.body!.getReader();
  await reader.read();
  const during = await scrape();
  t.equal(sum(during.samples, 'agentbus_in_flight_requests'), 1, 'one call open');
  t.equal(
    sum(during.samples, 'agentbus_worker_in_flight', { worker: stack.workers[0]!.id, endpoint: 'voice_processor' }),
    1,
    'the worker holds it too',
  );
  await reader.cancel();

  let samples: Sample[] = [];
  await waitFor(
    'the 499 to be counted',
    async () => {
      samples = (await scrape()).samples;
      return sum(samples, 'agentbus_requests_total', { agent: 'voice_processor', status: '499' }) === 1;
    },
    5000,
  );
  t.equal(sum(samples, 'agentbus_in_flight_requests'), 0, 'closed again');
  t.equal(sum(samples, 'agentbus_errors_total', { code: 'request_cancelled' }), 1);
  release();
  stack.ollama.behave({});
});

t.test("the gateway and the worker log the request's trace id; it travels as a NATS header", async (t) => {
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const traceparent = `00-${traceId}-b7ad6b7169203331-01`;
  const subjects = subjectsFor(stack.config.subjectPrefix);
  // A plain subscriber beside the workers' queue group sees each request too.
  const header = new Promise<string | undefined>((resolve) => {
    const seen = stack.bus.subscribe(subjects.chat('bengali_nlp'), {
      callback: (_err, msg) => {
        seen.unsubscribe();
        resolve(msg.headers?.get('traceparent'));
      },
    });
  });

  stack.ollama.behave({ tokens: ['fine'] });
  const res = await post(ask('bengali_nlp', 'hello'), { traceparent });
  t.equal(res.status, 200);
  t.equal(res.headers.get('traceparent'), traceparent, 'the response carries it');
  const body: any = await res.json();
  t.equal(await withTimeout(header, 3000, () => 'none'), traceparent, 'the NATS message carries it');

  const mine = () => stack.logs.lines.filter((line) => line['requestId'] === body.id);
  await waitFor("the worker's log line", () => mine().some((line) => line['msg'] === 'chat request answered'));
  const gateway = mine().filter((line) => line['worker'] === undefined);
  const worker = mine().filter((line) => line['worker'] !== undefined);
  t.ok(gateway.length > 0 && worker.length > 0, `gateway lines: ${gateway.length}, worker lines: ${worker.length}`);
  for (const line of mine()) t.equal(line['traceId'], traceId, `"${String(line['msg'])}" carries the trace id`);
  t.ok(
    gateway.some((line) => line['msg'] === 'request completed'),
    "fastify's own line included",
  );
  // One line per HTTP request: the completion line says what the incoming one did.
  t.match(
    gateway.find((line) => line['msg'] === 'request completed'),
    { req: { method: 'POST', url: /chat/ }, res: { statusCode: 200 }, responseTime: Number },
  );
  t.notOk(
    stack.logs.lines.some(
      (line) =>
        line['msg'] === 'incoming request' && (line['req'] as { url?: string } | undefined)?.url?.includes('chat'),
    ),
    'no separate incoming line',
  );
  const reqId = gateway.find((line) => line['msg'] === 'request completed')!['reqId'];
  // A window that must stay quiet, kept short: a close after the finish must not add a second line.
  await sleep(100);
  t.same(
    accessLines(reqId).map((line) => line['msg']),
    ['request completed'],
    'exactly one access line',
  );
});

/** The access lines (completed, errored or aborted) of one fastify request. */
const accessLines = (reqId: unknown) =>
  stack.logs.lines.filter(
    (line) => line['reqId'] === reqId && /^request (completed|errored|aborted)/.test(String(line['msg'])),
  );

t.test(
  "a client that leaves an SSE stream still gets one access line with the request's method, URL and address",
  async (t) => {
    // 10 s of answer: the client leaves long before it could finish.
    stack.ollama.behave({ tokens: Array.from({ length: 100 }, (_, i) => `t${i} `), tokenDelayMs: 100 });
    const abort = new AbortController();
    const res = await post(ask('testing', 'a long stream', { stream: true }), {}, abort.signal);
    t.equal(res.status, 200);
    await res.body!.getReader().read();
    abort.abort();

    const aborted = () =>
      stack.logs.lines.find(
        (line) =>
          line['msg'] === 'request aborted before the response finished' &&
          (line['req'] as { url?: string } | undefined)?.url === '/v1/chat/completions',
      );
    await waitFor("the aborted request's line", () => aborted() !== undefined);
    t.match(aborted(), {
      level: 30,
      req: { method: 'POST', url: '/v1/chat/completions', remoteAddress: '127.0.0.1' },
      res: { statusCode: 200 },
      responseTime: Number,
    });
    const reqId = aborted()!['reqId'];
    await waitFor('the gateway to note the client left', () =>
      stack.logs.lines.some((line) => line['reqId'] === reqId && String(line['msg']).startsWith('client left')),
    );
    // A window that must stay quiet, kept short: the response ending later adds no second line.
    await sleep(100);
    t.same(
      accessLines(reqId).map((line) => line['msg']),
      ['request aborted before the response finished'],
      'one line, and no "request completed" later',
    );
    stack.ollama.behave({});
  },
);

t.test("with the workers gone, /metrics still answers at once with the gateway's own series", async (t) => {
  for (const worker of stack.workers) await worker.stop(1000);
  // Within scrape()'s bound: nothing waited on the workers that are gone.
  const { status, samples } = await scrape();
  t.equal(status, 200);
  t.equal(sum(samples, 'agentbus_workers'), 0);
  t.equal(sum(samples, 'agentbus_worker_stats_up'), 1, 'NATS answered: there are just no workers');
  t.same(find(samples, 'agentbus_worker_requests'), [], "a stopped worker's series are gone");
  t.ok(sum(samples, 'agentbus_requests_total') >= 5, "the gateway's counters are still there");
});

t.test('with NATS gone too, /metrics still answers', async (t) => {
  await stack.bus.close();
  // Within scrape()'s bound: nothing waited on the closed connection.
  const { status, samples } = await scrape();
  t.equal(status, 200);
  t.equal(sum(samples, 'agentbus_worker_stats_up'), 0);
  t.ok(sum(samples, 'agentbus_requests_total') >= 5);
});
