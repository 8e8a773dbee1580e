import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { findEnvelopes } from '../../gateway/audit/audit-lookup.js';
import { auditStreamName } from '../../gateway/audit/audit-stream.js';
import { fakeEmbedding } from '../helpers/fake-ollama.js';
import { AUTH, startStack } from '../helpers/stack.js';

// A batch whose request or vectors outgrow NATS's max_payload (256 KB here) is cut by the
// gateway into several bus requests and answered as one: real nats-server with that limit,
// gateway, worker, fake Ollama (4-dimension vectors) over real sockets.
const KB = 1024;
const PREFIX = 'embed-split.agents';
const dir = mkdtempSync(join(tmpdir(), 'agentbus-embed-split-'));
const natsConf = join(dir, 'nats.conf');
writeFileSync(natsConf, 'max_payload: 262144\njetstream {}\n');
const stack = await startStack({
  natsConfigFile: natsConf,
  ollamaModels: ['llama3.2:latest', 'nomic-embed-text:latest', 'all-minilm:latest'],
  env: {
    AGENTS_FILE: fileURLToPath(new URL('./fixtures/embedding-agents.json', import.meta.url)),
    SUBJECT_PREFIX: PREFIX,
    AUDIT: 'on',
    MAX_MESSAGE_CHARS: String(400 * KB),
  },
});
t.teardown(async () => {
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});
const jsm = await stack.bus.jetstreamManager();
const STREAM = auditStreamName(PREFIX);

interface Answer {
  data: Array<{ index: number; embedding: number[] }>;
  usage: { prompt_tokens: number; total_tokens: number };
  error?: { code: string; param: string; message: string };
}
const embed = async (input: string[]) => {
  const res = await fetch(`${stack.baseUrl}/v1/embeddings`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'nomic', input }),
  });
  return { res, body: (await res.json()) as Answer };
};
const close = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((value, i) => Math.abs(value - b[i]!) < 1e-6);
/** What the fake Ollama was asked since `from`: one entry per bus request a worker took. */
const upstreamSince = (from: number) => stack.ollama.embedRequests.slice(from).map((r) => r.input as string[]);

/** Every vector there, in input order, with the right index; the words summed as usage. */
function assertEveryVector(t: Test, body: Answer, input: string[]) {
  t.same(
    body.data.map((d) => d.index),
    input.map((_, i) => i),
    'indexes 0…n-1',
  );
  t.ok(
    body.data.every((d, i) => close(d.embedding, fakeEmbedding(input[i]!))),
    'vector i is the embedding of input i',
  );
  const words = input.reduce((sum, text) => sum + text.split(' ').length, 0);
  t.same(body.usage, { prompt_tokens: words, total_tokens: words }, 'usage summed over the parts');
}

t.test('before the width is known, a modest batch is cut for wide vectors: several requests', async (t) => {
  // 4096 dimensions assumed, 21 851 bytes of reply each: 5 inputs a part (half of 256 KB).
  const input = Array.from({ length: 30 }, (_, i) => `text number ${i}`);
  const from = stack.ollama.embedRequests.length;
  const { res, body } = await embed(input);
  t.equal(res.status, 200);
  assertEveryVector(t, body, input);
  const seen = upstreamSince(from);
  t.equal(seen.length, 6, 'the upstream saw six requests');
  t.same(seen.flat().sort(), [...input].sort(), 'every input embedded once');
  const requestId = res.headers.get('x-request-id')!;
  const found = await findEnvelopes(jsm, STREAM, requestId, { maxScan: 500, timeoutMs: 5000 });
  t.equal(found.exact.length, 0, 'no envelope of the whole batch: it never went on the bus');
  t.same(
    found.parts.map((p) => p.requestId).sort(),
    [1, 2, 3, 4, 5, 6].map((n) => `${requestId}.${n}`).sort(),
    'one audit copy per part, named after the request',
  );
});

t.test('a batch larger than max_payload is split by its size and answered in order', async (t) => {
  // 4 dimensions are known now; 400 inputs of 1000 characters are 400 KB: over the bus's 256 KB.
  const input = Array.from({ length: 400 }, (_, i) => `${i} `.padEnd(1000, 'x'));
  const from = stack.ollama.embedRequests.length;
  const { res, body } = await embed(input);
  t.equal(res.status, 200);
  assertEveryVector(t, body, input);
  const seen = upstreamSince(from);
  t.equal(seen.length, 4, 'four parts of at most 128 KB');
  t.same(seen.flat().sort(), [...input].sort());
});

t.test('a small batch is one request, recorded under its own id', async (t) => {
  const input = ['one', 'two', 'three'];
  const from = stack.ollama.embedRequests.length;
  const { res, body } = await embed(input);
  t.equal(res.status, 200);
  assertEveryVector(t, body, input);
  t.same(upstreamSince(from), [input]);
  const requestId = res.headers.get('x-request-id')!;
  const found = await findEnvelopes(jsm, STREAM, requestId, { maxScan: 500, timeoutMs: 5000 });
  t.equal(found.exact.length, 1);
  t.same(found.parts, []);
});

t.test('an input larger than max_payload alone is a 413 naming it', async (t) => {
  const { res, body } = await embed(['short', 'y'.repeat(300 * KB), 'also short']);
  t.equal(res.status, 413);
  t.match(body.error, {
    code: 'request_too_large',
    param: 'input[1]',
    message: /^input\[1\] is larger than the message bus carries \(NATS max_payload, 262144 bytes\); shorten it/,
  });
  t.notOk(
    stack.ollama.embedRequests.some((r) => (r.input as string[]).some((text) => text.length > 1000)),
    'the large input never reached a worker',
  );
});
