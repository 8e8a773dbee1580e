import { fileURLToPath } from 'node:url';
import t from 'tap';
import { fakeEmbedding } from '../helpers/fake-ollama.js';
import { startFakeOpenAI } from '../helpers/fake-openai.js';
import { AUTH, startStack } from '../helpers/stack.js';

// A batch that takes longer than the first-token limit: gateway → NATS → worker → a fake
// OpenAI-compatible upstream that answers /v1/embeddings late, over real sockets. The worker's
// ack and heartbeats keep the gateway waiting: one upstream call, never a second copy of the
// batch; and a client that leaves stops the upstream call.
const FIRST_TOKEN_TIMEOUT_MS = 500;
const EMBED_DELAY_MS = 2_500; // five first-token limits, and past the 1 s silence limit of HEARTBEAT_MS=200
const upstream = await startFakeOpenAI(['text-embedding-3-small']);
t.teardown(() => upstream.close());
const stack = await startStack({
  ollamaModels: ['llama3.2:latest', 'nomic-embed-text:latest', 'all-minilm:latest'],
  env: {
    AGENTS_FILE: fileURLToPath(new URL('./fixtures/embedding-agents.json', import.meta.url)),
    OPENAI_BASE_URL: upstream.url,
    FIRST_TOKEN_TIMEOUT_MS: String(FIRST_TOKEN_TIMEOUT_MS),
    HEARTBEAT_MS: '200',
  },
});
t.teardown(() => stack.close());
upstream.behave({ embedDelayMs: EMBED_DELAY_MS });

const embed = (input: string[], signal?: AbortSignal) =>
  fetch(`${stack.baseUrl}/v1/embeddings`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'remote', input, encoding_format: 'float' }),
    ...(signal ? { signal } : {}),
  });
const retryLogs = () => stack.logs.lines.filter((l) => /retrying once/.test(String(l['msg'])));
const close = (a: readonly number[], b: readonly number[]) => a.every((value, i) => Math.abs(value - b[i]!) < 1e-6);

t.test('a batch slower than the first-token limit: one upstream call, then 200', async (t) => {
  const calls = upstream.embedRequests.length;
  const retries = retryLogs().length;
  const started = Date.now();
  const res = await embed(['slow one', 'slow two']);
  const ms = Date.now() - started;
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.ok(close(body.data[1].embedding, fakeEmbedding('slow two')), 'the vectors of the one call');
  t.ok(ms >= EMBED_DELAY_MS, `waited for the batch (${ms} ms), well past FIRST_TOKEN_TIMEOUT_MS`);
  t.equal(upstream.embedRequests.length, calls + 1, 'one upstream call only');
  t.equal(retryLogs().length, retries, 'no retry');
});

t.test('a client that leaves mid-batch: the worker stops the upstream call, and nothing is retried', async (t) => {
  const calls = upstream.embedRequests.length;
  const aborted = upstream.embedAborted;
  const left = new AbortController();
  const pending = embed(['abandoned'], left.signal).catch((err: unknown) => err);
  // Past the first-token limit, so the batch is surely running at the worker.
  for (let i = 0; i < 40 && upstream.embedRequests.length === calls; i++) await sleep(50);
  await sleep(FIRST_TOKEN_TIMEOUT_MS);
  left.abort();
  t.match(await pending, { name: 'AbortError' });
  for (let i = 0; i < 40 && upstream.embedAborted === aborted; i++) await sleep(50);
  t.equal(upstream.embedAborted, aborted + 1, 'the upstream call was cut short, not left to run');
  t.equal(upstream.embedRequests.length, calls + 1, 'one upstream call only');
});

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
