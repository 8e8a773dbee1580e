import { randomUUID } from 'node:crypto';
import t from 'tap';
import { envelopeFor, sendEnvelope } from '../../helpers/bus-call.js';
import { startFakeOllama, type FakeOllama } from '../../helpers/fake-ollama.js';
import { startWorkerProcess, type TestProcess } from '../../helpers/processes.js';
import { parseSse } from '../../helpers/sse.js';
import { AUTH, startStack } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';

// Gateway in-process (HEARTBEAT_MS=1000: a worker silent for 3 s is dead; at the shared stack's 1 s the
// retry on the surviving worker was taken for dead too, in a fresh-clone CI run); two
// real worker processes, each on its own fake Ollama, so the fake that got a request tells
// which process holds it. REQUEST_TIMEOUT_MS is 30 s, so an answer that waited for the
// deadline instead of the heartbeat window would outlast the clients' own bound below.
const stack = await startStack({ workerAgents: false, env: { REQUEST_TIMEOUT_MS: '30000', HEARTBEAT_MS: '1000' } });
const otherOllama = await startFakeOllama();
t.teardown(async () => {
  for (const w of workers) await w.process.stop();
  await otherOllama.close();
  await stack.close();
});
interface Slot {
  ollama: FakeOllama;
  process: TestProcess;
}
const start = (ollama: FakeOllama) =>
  startWorkerProcess(
    {
      NATS_URL: stack.natsUrl,
      OLLAMA_URL: ollama.url,
      DATA_DIR: stack.dataDir,
      DEFAULT_MODEL: 'llama3.2',
      CACHE_TTL_SECONDS: '0',
    },
    ['code_review'],
  );
const workers: Slot[] = [];
for (const ollama of [stack.ollama, otherOllama]) workers.push({ ollama, process: await start(ollama) });

const NOW = new Date().toISOString();
/** A pending turn as a worker killed after its receipt wait leaves it. */
const orphanRow = (requestId: string, sessionId: string) => ({
  request_id: requestId,
  session_id: sessionId,
  agent: 'code_review',
  model: 'llama3.2',
  user_input: 'explain this',
  input_messages: JSON.stringify([{ role: 'user', content: 'explain this' }]),
  assistant_response: 'never delivered',
  tool_calls: null,
  finish_reason: 'stop',
  cached: 0,
  prompt_tokens: 1,
  completion_tokens: 1,
  duration_ms: 1,
  created_at: NOW,
  end_user: null,
  metadata: null,
  previous_response_id: null,
  state: 'pending' as const,
  commit_seq: null,
  pending_until: 946_684_800_000,
  attempt: null,
});

// Bounded: a test that waited for a timeout rather than the heartbeat window fails here.
const CLIENT_BOUND_MS = 15_000;
const ask = (stream: boolean) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'code_review', stream, messages: [{ role: 'user', content: 'explain this' }] }),
    signal: AbortSignal.timeout(CLIENT_BOUND_MS),
  });
// Longer than the client's bound: only the heartbeat window can end it in time.
const slow = { tokens: Array.from({ length: 200 }, (_, i) => `t${i} `), tokenDelayMs: 100 };
const behaveAll = (b: Parameters<FakeOllama['behave']>[0]) => {
  for (const w of workers) w.ollama.behave(b);
};
const counts = () => workers.map((w) => w.ollama.requests.length);
/** The worker whose fake Ollama received a request since `before`. */
async function holder(before: number[]): Promise<Slot> {
  await waitFor('the request to reach a model', () => counts().some((n, i) => n > before[i]!));
  return workers[counts().findIndex((n, i) => n > before[i]!)]!;
}

t.test(
  'kill -9 mid-stream: the SSE stream ends with event: error (worker_lost), no [DONE], within the heartbeat window',
  async (t) => {
    behaveAll(slow);
    const before = counts();
    const res = await ask(true);
    t.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    // Read until a content delta arrived: the client has seen part of the answer.
    while (!/"content":"t\d/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const slot = await holder(before);
    await slot.process.kill();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const { events } = parseSse(text);
    t.notOk(
      events.some((e) => e.data === '[DONE]'),
      'no [DONE]: the answer must not look complete',
    );
    t.equal(events.at(-1)?.event, 'error');
    // worker_lost is the heartbeat window's verdict (3 × HEARTBEAT_MS); the
    // 30 s deadline would have said deadline_exceeded, after the client's bound.
    t.match(JSON.parse(events.at(-1)!.data), { error: { code: 'worker_lost' } });
    slot.process = await start(slot.ollama);
  },
);

t.test(
  'kill -9 while a non-streamed answer is generated: nothing was relayed, so it is retried on the other worker (200)',
  async (t) => {
    // A non-streaming request asks the model for the whole answer at once: until it is in, the
    // client has seen nothing, and a lost worker is retried like one lost before its first token.
    behaveAll({ tokens: ['slow'], firstTokenDelayMs: 30_000 });
    const before = counts();
    const pending = ask(false);
    const slot = await holder(before);
    const survivor = workers.find((w) => w !== slot)!;
    survivor.ollama.behave({ tokens: ['fine', ' answer'] });
    await slot.process.kill();
    // Restarted however the checks end: the next test needs two workers again.
    t.teardown(async () => {
      slot.process = await start(slot.ollama);
    });
    const res = await pending;
    const body = await res.json();
    // The error body names what went wrong when the retry failed too (seen once under a loaded CI).
    if (!t.equal(res.status, 200, JSON.stringify(body))) return;
    t.equal(body.choices[0].message.content, 'fine answer');
    t.equal(body.meta.worker, survivor.process.ready['id'], 'the surviving worker answered');
    // Retried on worker_lost: the heartbeat window noticed the kill, no timeout was waited for.
    t.match(body.meta.fallback, [{ kind: 'retry', from: 'code_review', to: 'code_review', reason: 'worker_lost' }]);
    const rows = await stack.db
      .selectFrom('turns')
      .select('request_id')
      .where('request_id', '=', res.headers.get('x-request-id')!)
      .execute();
    t.equal(rows.length, 1, 'the retried request is stored once');
  },
);

t.test(
  'kill -9 before the first token of a stream: retried on the other worker, the stream completes with [DONE]',
  async (t) => {
    behaveAll({ tokens: ['never'], firstTokenDelayMs: 30_000 });
    const before = counts();
    const pending = ask(true);
    const slot = await holder(before);
    const survivor = workers.find((w) => w !== slot)!;
    survivor.ollama.behave({ tokens: ['fine', ' answer'] });
    await slot.process.kill();
    // Restarted however the checks end: the next test needs two workers again.
    t.teardown(async () => {
      slot.process = await start(slot.ollama);
    });
    const res = await pending;
    const text = await res.text();
    if (!t.equal(res.status, 200, text.slice(0, 2000))) return;
    const { events } = parseSse(text);
    t.notOk(
      events.some((e) => e.event === 'error'),
      'no error event',
    );
    t.equal(events.at(-1)?.data, '[DONE]');
    const chunks = events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
    t.equal(
      chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join(''),
      'fine answer',
      "only the survivor's answer, once",
    );
    // Retried on worker_lost: the heartbeat window noticed the kill, no timeout was waited for.
    t.match(chunks.find((c) => c.meta)?.meta, {
      worker: survivor.process.ready['id'],
      fallback: [{ kind: 'retry', from: 'code_review', to: 'code_review', reason: 'worker_lost' }],
    });
    const rows = await stack.db
      .selectFrom('turns')
      .select('request_id')
      .where('request_id', '=', res.headers.get('x-request-id')!)
      .execute();
    t.equal(rows.length, 1, 'the retried request is stored once');
  },
);

t.test(
  'a pending turn a killed worker left: the retry replaces it, a later request does not wait for it',
  async (t) => {
    // As a worker killed between its pending write and its done leaves memory (no timing race to hit:
    // the row is written as that worker wrote it, its receipt wait already over).
    behaveAll({ tokens: ['retried', ' answer'] });
    const session = `conv_${randomUUID().replaceAll('-', '')}`;
    const lost = envelopeFor('code_review', [{ role: 'user', content: 'explain this' }], { session_id: session });
    await stack.db
      .insertInto('sessions')
      .values({
        id: session,
        tenant: lost.tenant,
        agent: 'code_review',
        created_at: NOW,
        updated_at: NOW,
        turn_count: 0,
      })
      .execute();
    await stack.db
      .insertInto('turns')
      .values({
        ...orphanRow(lost.request_id, session),
        // Still within its writer's wait: only the gateway's retry (attempt 2) may replace it.
        pending_until: Date.now() + 60_000,
      })
      .execute();
    const frames = await sendEnvelope(stack.bus, stack.config.subjectPrefix, {
      ...lost,
      create_session: false,
      attempt: 2,
    });
    t.match(frames.at(-1), { type: 'done' }, 'answered, not answer_conflict');
    const rows = () =>
      stack.db.selectFrom('turns').select(['state', 'assistant_response', 'attempt']).where('session_id', '=', session);
    t.same(await rows().execute(), [{ state: 'committed', assistant_response: 'retried answer', attempt: 2 }]);

    // A dead worker's pending turn past its wait holds up nobody: the next request answers at once.
    const orphan = envelopeFor('code_review', [{ role: 'user', content: 'x' }], { session_id: session });
    await stack.db.insertInto('turns').values(orphanRow(orphan.request_id, session)).execute();
    const next = envelopeFor('code_review', [{ role: 'user', content: 'and then?' }], {
      session_id: session,
      create_session: false,
    });
    const started = Date.now();
    t.match((await sendEnvelope(stack.bus, stack.config.subjectPrefix, next)).at(-1), { type: 'done' });
    t.comment(`answered in ${Date.now() - started} ms (a 2 s settle wait before)`);
    t.equal((await rows().where('state', '=', 'committed').execute()).length, 2);
  },
);
