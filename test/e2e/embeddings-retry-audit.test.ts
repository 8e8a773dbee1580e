import { fileURLToPath } from 'node:url';
import { connect, type Msg } from '@nats-io/transport-node';
import t from 'tap';
import { AgentbusError, assertEmbedRequest, encodeJson, subjectsFor } from '../../bus-schemas/index.js';
import { envelopeAt, findEnvelopes } from '../../gateway/audit/audit-lookup.js';
import { auditStreamName } from '../../gateway/audit/audit-stream.js';
import { fakeEmbedding } from '../helpers/fake-ollama.js';
import { runScriptToExit } from '../helpers/processes.js';
import { AUTH, startStack } from '../helpers/stack.js';

// Embeddings retried on another worker when one fails before answering, and recorded in the
// audit stream like chat: real nats-server (JetStream), gateway, worker, fake Ollama; the failing
// worker is a second member of the agent's queue group on its own NATS connection.
const PREFIX = 'embed-audit.agents';
const STREAM = auditStreamName(PREFIX);
const subjects = subjectsFor(PREFIX);
const stack = await startStack({
  ollamaModels: ['llama3.2:latest', 'nomic-embed-text:latest', 'all-minilm:latest'],
  env: {
    AGENTS_FILE: fileURLToPath(new URL('./fixtures/embedding-agents.json', import.meta.url)),
    AUDIT: 'on',
    SUBJECT_PREFIX: PREFIX,
    FIRST_TOKEN_TIMEOUT_MS: '700',
  },
});
t.teardown(() => stack.close());
const jsm = await stack.bus.jetstreamManager();
const rogue = await connect({ servers: stack.natsUrl });
t.teardown(() => rogue.close());

const embed = (input: string) =>
  fetch(`${stack.baseUrl}/v1/embeddings`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'nomic', input }),
  });
const close = (a: readonly number[], b: readonly number[]) => a.every((value, i) => Math.abs(value - b[i]!) < 1e-6);

/**
 * A member of nomic's queue group that takes exactly one request and handles it with `onRequest`
 * (then leaves). The queue group picks a member at random, so requests are sent until it took
 * one; resolves with that request's response, its id and how long it took.
 */
async function throughRogue(onRequest: (msg: Msg) => void) {
  let taken: string | undefined;
  rogue.subscribe(subjects.embed('nomic'), {
    queue: 'nomic',
    max: 1,
    callback: (_err, msg) => {
      taken = assertEmbedRequest(JSON.parse(new TextDecoder().decode(msg.data))).request_id;
      onRequest(msg);
    },
  });
  await rogue.flush();
  for (let i = 0; i < 40; i++) {
    const started = Date.now();
    const res = await embed(`retry me ${i}`);
    if (taken !== undefined) return { res, requestId: taken, ms: Date.now() - started, text: `retry me ${i}` };
    await res.arrayBuffer();
  }
  throw new Error('the rogue member never got a request');
}
const retryLogs = () => stack.logs.lines.filter((l) => /retrying once/.test(String(l['msg'])));

t.test('a worker that takes the request and goes silent: retried on another worker', async (t) => {
  const before = retryLogs().length;
  const { res, requestId, ms, text } = await throughRogue(() => undefined);
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.ok(close(body.data[0].embedding, fakeEmbedding(text)), 'the real worker made the vector');
  t.ok(ms >= 700, `waited FIRST_TOKEN_TIMEOUT_MS for the silent worker first (${ms} ms)`);
  t.equal(res.headers.get('x-request-id'), requestId, 'one request id for both attempts');
  t.equal(retryLogs().length, before + 1);
  t.match(retryLogs().at(-1), { code: 'first_token_timeout', agent: 'nomic' });
  const found = await findEnvelopes(jsm, STREAM, requestId, { maxScan: 200, timeoutMs: 5000 });
  t.equal(found.exact.length, 2, 'both attempts are in the audit stream');
});

t.test('a worker answering a retryable error: retried; a client error is not', async (t) => {
  const { res } = await throughRogue((msg) => {
    const request = JSON.parse(new TextDecoder().decode(msg.data));
    const error = new AgentbusError('backend_unreachable', 'this worker cannot reach its Ollama').toWire();
    msg.respond(encodeJson({ type: 'error', request_id: request.request_id, error }));
  });
  t.equal(res.status, 200);
  t.match(retryLogs().at(-1), { code: 'backend_unreachable' });

  const retries = retryLogs().length;
  const tokens = await fetch(`${stack.baseUrl}/v1/embeddings`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'nomic', input: [1, 2, 3] }),
  });
  t.equal(tokens.status, 400, 'Ollama takes no token arrays');
  t.equal(retryLogs().length, retries, 'not retried');
});

t.test('no worker at all: 503 no_worker after one retry, naming both attempts', async (t) => {
  for (const worker of stack.workers.splice(0)) await worker.stop(1000);
  t.teardown(() => stack.addWorker());
  const res = await embed('nobody home');
  t.equal(res.status, 503);
  t.match(await res.json(), { error: { code: 'no_worker', message: /second attempt/ } });
});

t.test('every embeddings request is in the audit stream, and npm run replay answers it again', async (t) => {
  if (stack.workers.length === 0) await stack.addWorker();
  const { config } = await jsm.streams.info(STREAM);
  t.same(config.subjects, [subjects.allAudit, subjects.allAuditEmbed, subjects.allAuditSpeech]);
  const res = await embed('audit me');
  t.equal(res.status, 200);
  const requestId = res.headers.get('x-request-id')!;
  const found = await findEnvelopes(jsm, STREAM, requestId, { maxScan: 200, timeoutMs: 5000 });
  t.equal(found.exact.length, 1);
  const stored = (await envelopeAt(jsm, STREAM, found.exact[0]!.seq))!;
  t.equal(stored.subject, subjects.auditEmbed('nomic'));
  t.match(assertEmbedRequest(JSON.parse(Buffer.from(stored.data).toString('utf8'))), {
    request_id: requestId,
    intent: 'nomic',
    input: ['audit me'],
  });
  t.equal(stored.headers?.get('Agentbus-Request-Id'), requestId);

  const before = stack.ollama.embedRequests.length;
  const run = await runScriptToExit(
    'scripts/replay.ts',
    [requestId],
    { NATS_URL: stack.natsUrl, SUBJECT_PREFIX: PREFIX },
    { teardown: t },
  );
  t.equal(run.code, 0, run.stderr);
  t.match(JSON.parse(run.stdout.trim()), { type: 'embeddings', request_id: requestId, model: 'nomic-embed-text' });
  t.equal(stack.ollama.embedRequests.length, before + 1, 'the model was asked again');
});
