import { connect } from '@nats-io/transport-node';
import { connectBus } from '../../common/bus.js';
import OpenAI from 'openai';
import t from 'tap';
import { encodeJson, subjectsFor } from '../../bus-schemas/index.js';
import { loadCatalog } from '../../common/catalog.js';
import { createLogger } from '../../common/logger.js';
import { buildApp } from '../../gateway/app.js';
import { createProvider } from '../../workers/providers/index.js';
import { AUTH, startSideLane, startStack } from '../helpers/stack.js';
import { parseSse, sseJson } from '../helpers/sse.js';
import { sleep, waitFor } from '../helpers/wait.js';

// The gateway gives up at its deadline (REQUEST_TIMEOUT_MS), and declares a worker dead after
// three missed heartbeats (HEARTBEAT_MS=200 → 600 ms, floored at 1 s).
const stack = await startStack({ env: { REQUEST_TIMEOUT_MS: '1500', HEARTBEAT_MS: '200' } });
t.teardown(() => stack.close());
const post = (body: unknown) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, { method: 'POST', headers: AUTH, body: JSON.stringify(body) });
const ask = (model: string, stream = false) => post({ model, stream, messages: [{ role: 'user', content: 'hi' }] });
const rowCount = async () =>
  Number(
    (
      await stack.db
        .selectFrom('turns')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

t.test('no worker serving the agent → 503 fast (NATS no-responders, not a timeout)', async (t) => {
  for (const worker of stack.workers.splice(0)) await worker.stop(1000);
  for (const stream of [false, true]) {
    const res = await ask('voice_processor', stream);
    t.equal(res.status, 503, `stream=${stream}: 503`);
    const body: any = await res.json();
    // no_worker comes only from NATS's no-responders answer; waiting would end in
    // deadline_exceeded (504) or worker_lost (502) instead.
    t.equal(body.error.code, 'no_worker');
    t.match(body.error.message, /npm run worker -- --agents voice_processor/);
    t.equal(res.headers.get('retry-after'), '1', 'retryable errors carry retry-after');
  }
  await stack.addWorker();
});

t.test('backend down → 503 naming OLLAMA_URL, and no memory row', async (t) => {
  const before = await rowCount();
  // A worker whose Ollama is a closed port.
  const deadUrl = 'http://127.0.0.1:9';
  const lane = await startSideLane(stack, { prefix: 'dead-backend', ollamaUrl: deadUrl });
  t.teardown(() => lane.close());
  for (const stream of [false, true]) {
    const res = await lane.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: AUTH,
      payload: { model: 'testing', stream, messages: [{ role: 'user', content: 'hi' }] },
    });
    t.equal(res.statusCode, 503, `stream=${stream}: plain HTTP error, the stream never started`);
    const body = res.json();
    t.equal(body.error.code, 'backend_unreachable');
    t.match(body.error.message, /OLLAMA_URL/);
    t.match(body.error.message, deadUrl);
    t.match(body.error.message, /ollama serve/);
  }
  t.equal(await rowCount(), before, 'nothing stored');
});

t.test('a gateway whose NATS connection is closed answers 503 bus_unavailable, and keeps running', async (t) => {
  const closed = await connectBus({ url: stack.natsUrl, role: 'gateway', name: 'closed', log: createLogger('off') });
  await closed.close();
  const config = { ...stack.config, requestTimeoutMs: 300 };
  const app = await buildApp({
    config,
    bus: closed,
    catalog: stack.catalog,
    logger: createLogger('t', { destination: stack.logs }),
  });
  t.teardown(() => app.close());
  const res = await app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: AUTH,
    payload: { model: 'testing', messages: [{ role: 'user', content: 'hi' }] },
  });
  t.equal(res.statusCode, 503);
  t.match(res.json(), { error: { code: 'bus_unavailable', message: /NATS/ } });
  // A window that must stay quiet: past the 300 ms request timeout plus the 1 s deadline grace,
  // no timer left behind fires into a half-built call (it would be an uncaught exception).
  await sleep(config.requestTimeoutMs + 1000 + 200);
  t.pass('no uncaught exception after the timeout');
});

t.test('the official SDK, with its default retries, calls a missing model once (x-should-retry: false)', async (t) => {
  const lane = await startSideLane(stack, { prefix: 'missing-model', defaultModel: 'not-pulled' });
  t.teardown(() => lane.close());
  const before = stack.ollama.requests.length;
  const client = new OpenAI({ baseURL: `${lane.baseUrl}/v1`, apiKey: 'local-only' });
  const failure = await client.chat.completions
    .create({ model: 'testing', messages: [{ role: 'user', content: 'x' }] })
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  t.ok(failure instanceof OpenAI.APIError && failure.status === 502, 'a 502 reached the caller');
  t.equal(stack.ollama.requests.length - before, 1, 'the SDK did not retry a non-retryable error');
});

t.test('backend HTTP failure → 502; missing model → 502 telling to pull it; nothing stored', async (t) => {
  const before = await rowCount();
  stack.ollama.behave({ failWith: { status: 500, message: 'llama runner process has terminated' } });
  const res = await ask('testing');
  t.equal(res.status, 502);
  const body: any = await res.json();
  t.equal(body.error.code, 'backend_error');
  t.match(body.error.message, /HTTP 500: llama runner process has terminated/);

  stack.ollama.behave({});
  const catalog = loadCatalog(stack.config.agentsFile, 'not-pulled-model');
  t.equal(catalog.get('testing')!.model, 'not-pulled-model', 'DEFAULT_MODEL sets every agent model');
  const events = createProvider('ollama', { ollamaUrl: stack.ollama.url }).chat({
    model: 'not-pulled-model',
    messages: [{ role: 'user', content: 'x' }],
    options: {},
    signal: new AbortController().signal,
  });
  const failure = await (async () => {
    for await (const _ of events) {
      /* drain */
    }
  })().then(
    () => undefined,
    (err: unknown) => err,
  );
  t.match(failure, { code: 'backend_model_not_found', message: /ollama pull not-pulled-model/ });
  t.equal(await rowCount(), before, 'nothing stored');
});

t.test('backend dies mid-stream → SSE error event and no [DONE]; non-streaming → 502; nothing stored', async (t) => {
  const before = await rowCount();
  stack.ollama.behave({ tokens: ['partial', ' answer', ' never', ' finished'], dieAfterTokens: 2, tokenDelayMs: 20 });
  const res = await ask('code_review', true);
  t.equal(res.status, 200, 'the stream had started');
  const { events } = parseSse(await res.text());
  t.notOk(
    events.some((e) => e.data === '[DONE]'),
    'no [DONE]: the answer must not look complete',
  );
  const last = events.at(-1)!;
  t.equal(last.event, 'error');
  t.match(JSON.parse(last.data), { error: { code: 'backend_error', type: 'server_error' } });
  t.ok(
    sseJson(events.slice(0, -1)).every((c) => c.choices[0].finish_reason === null),
    'no chunk claims a finish_reason',
  );

  const plain = await ask('code_review');
  t.equal(plain.status, 502);
  t.equal((await plain.json()).error.code, 'backend_error');
  t.equal(await rowCount(), before, 'nothing stored');
});

t.test('model slower than the deadline → 504 and the backend call is aborted', async (t) => {
  const before = await rowCount();
  stack.ollama.behave({ tokens: ['too', ' late'] });
  // The model answers nothing until released (after the answer): the 504 came at the deadline,
  // not when the model finished.
  const release = stack.ollama.hold();
  t.teardown(release);
  const res = await ask('testing');
  t.equal(res.status, 504);
  t.match(await res.json(), {
    error: { code: 'deadline_exceeded', message: /timeout of 1500 ms; .*\(Set by REQUEST_TIMEOUT_MS\.\)$/ },
  });
  await waitFor('the worker to abort its Ollama request', () => stack.ollama.requests.at(-1)!.aborted);
  release();
  t.equal(await rowCount(), before, 'nothing stored');
  stack.ollama.behave({});
});

t.test("a client's shorter timeout is the one the deadline error names", async (t) => {
  const release = stack.ollama.hold();
  t.teardown(release);
  const linesBefore = stack.logs.lines.length;
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, 'x-request-timeout-ms': '1000' },
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'hi' }] }),
  });
  t.equal(res.status, 504);
  t.match(await res.json(), {
    error: { code: 'deadline_exceeded', message: /timeout of 1000 ms; .*X-Request-Timeout-Ms/ },
  });
  // A deadline is an operating condition, often the client's own choice: a warning, not an error.
  const logged = stack.logs.lines.slice(linesBefore).filter((line) => line['code'] === 'deadline_exceeded');
  t.ok(logged.length > 0, 'the deadline is logged');
  t.same(
    logged.filter((line) => (line['level'] as number) >= 50),
    [],
    'at warn',
  );
  release();
});

t.test(
  'silent worker → 502 worker_lost; seq gap → stream_protocol_error; heartbeats without an answer → 504',
  async (t) => {
    const subjects = subjectsFor(stack.config.subjectPrefix);
    const rogue = await connect({ servers: stack.natsUrl });
    t.teardown(() => rogue.drain());
    // The real workers serve every agent; this rogue one serves a catalog agent alone by
    // stopping them first, then restores them.
    for (const worker of stack.workers.splice(0)) await worker.stop(1000);
    t.teardown(() => stack.addWorker());
    let mode: 'silent' | 'gap' | 'heartbeats-forever' = 'silent';
    const beats: NodeJS.Timeout[] = [];
    const stopBeating = () => beats.forEach((beat) => clearInterval(beat));
    t.teardown(stopBeating);
    rogue.subscribe(subjects.chat('testing'), {
      queue: 'testing',
      callback: (_err, msg) => {
        const req = JSON.parse(new TextDecoder().decode(msg.data));
        const frame = (seq: number, body: object) =>
          msg.respond(encodeJson({ seq, request_id: req.request_id, ...body }));
        frame(0, { type: 'ack', worker: 'rogue', conversation_id: req.session_id });
        if (mode === 'gap') {
          frame(1, { type: 'delta', content: 'a' });
          frame(3, { type: 'delta', content: 'c' });
        }
        if (mode === 'heartbeats-forever') {
          // Alive but never finishing, and ignoring the timeout: only the gateway's own
          // deadline can end this request. Bounded, and stopped at teardown.
          let seq = 1;
          const beat = setInterval(() => frame(seq++, { type: 'heartbeat' }), 100);
          beats.push(beat);
          setTimeout(() => clearInterval(beat), 30_000).unref();
        }
      },
    });
    await rogue.flush();

    let res = await ask('testing');
    t.equal(res.status, 502);
    // Nothing had reached the client, so the gateway retried once. worker_lost on both attempts is
    // the heartbeat window's verdict: the deadline would have said deadline_exceeded.
    t.match(await res.json(), {
      error: {
        code: 'worker_lost',
        message: /No frame from the worker.*second attempt; the first failed the same way/,
      },
    });

    mode = 'gap';
    res = await ask('testing', true);
    const { events } = parseSse(await res.text());
    t.notOk(events.some((e) => e.data === '[DONE]'));
    t.match(JSON.parse(events.at(-1)!.data), {
      error: { code: 'stream_protocol_error', message: /expected seq 2, got 3/ },
    });

    mode = 'heartbeats-forever';
    const started = Date.now();
    res = await ask('testing');
    stopBeating();
    t.equal(res.status, 504);
    // Not worker_lost: the rogue beat on, so only the gateway's own deadline ended the request.
    t.match(await res.json(), { error: { code: 'deadline_exceeded', message: /1500 ms \(REQUEST_TIMEOUT_MS\)/ } });
    const elapsed = Date.now() - started;
    t.ok(elapsed >= 1500, `ended by the gateway, not before the timeout (${elapsed} ms)`);
  },
);
