import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadGatewayConfig } from '../../gateway/config.js';
import { startStack } from '../helpers/stack.js';

// The embeddings routes have a body limit of their own (EMBEDDINGS_BODY_LIMIT_BYTES): a batch of
// many inputs is far over BODY_LIMIT_BYTES (1 MiB), which still holds for the other routes. A
// big body is charged its whole length against the tier's bytes before it is read, and a batch
// larger than one bus message (NATS max_payload, 2 MB here) is sent in parts (embeddings-split.test.ts).
const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'agentbus-embed-limit-'));
const natsConf = join(dir, 'nats.conf');
writeFileSync(natsConf, 'max_payload: 2MB\njetstream {}\n');
const tiersFile = join(dir, 'rate-tiers.json');
writeFileSync(
  tiersFile,
  JSON.stringify({ tiers: { standard: { requests_per_minute: 100, max_input_bytes: 6 * MiB }, unlimited: {} } }),
);
const stack = await startStack({
  natsConfigFile: natsConf,
  ollamaModels: ['llama3.2:latest', 'nomic-embed-text:latest', 'all-minilm:latest'],
  env: {
    AGENTS_FILE: fileURLToPath(new URL('./fixtures/embedding-agents.json', import.meta.url)),
    API_KEYS: 'key-a,key-b,key-c,key-d,key-e,key-f',
    API_KEYS_TIER: 'standard',
    RATE_TIERS_FILE: tiersFile,
    EMBEDDINGS_BODY_LIMIT_BYTES: String(4 * MiB),
  },
});
t.teardown(async () => {
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A batch of 4 KB inputs, about `bytes` long as JSON. */
const batch = (bytes: number) => Array.from({ length: Math.ceil(bytes / 4100) }, (_, i) => `${i} ${'x'.repeat(4090)}`);
const post = (key: string, path: string, body: object) =>
  fetch(`${stack.baseUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

t.test('by default embeddings take 16 MiB, everything else 1 MiB', async (t) => {
  const defaults = loadGatewayConfig({});
  t.equal(defaults.embeddingsBodyLimitBytes, 16 * MiB);
  t.equal(defaults.bodyLimitBytes, MiB);
});

t.test('a 1.5 MiB batch is embedded, on /v1/embeddings and an agent base URL', async (t) => {
  const input = batch(1.5 * MiB);
  for (const [key, path] of [
    ['key-a', '/v1/embeddings'],
    ['key-b', '/agents/nomic/v1/embeddings'],
  ] as const) {
    const res = await post(key, path, { model: 'nomic', input, encoding_format: 'base64' });
    t.equal(res.status, 200, path);
    t.equal(((await res.json()) as { data: unknown[] }).data.length, input.length, `${path}: every vector`);
  }
});

t.test('other routes keep BODY_LIMIT_BYTES', async (t) => {
  const content = 'x'.repeat(1.5 * MiB);
  const res = await post('key-c', '/v1/chat/completions', { model: 'testing', messages: [{ role: 'user', content }] });
  t.equal(res.status, 413);
  t.match(await errorOf(res), { code: 'request_too_large', message: /BODY_LIMIT_BYTES \(1048576 bytes\)/ });
});

t.test('a batch over NATS max_payload is embedded in parts', async (t) => {
  const sent = stack.ollama.embedRequests.length;
  const input = batch(3 * MiB);
  const res = await post('key-d', '/v1/embeddings', { model: 'nomic', input, encoding_format: 'base64' });
  t.equal(res.status, 200);
  t.equal(((await res.json()) as { data: unknown[] }).data.length, input.length, 'every vector');
  t.ok(stack.ollama.embedRequests.length - sent > 1, 'several requests on the bus');
});

t.test('a body over EMBEDDINGS_BODY_LIMIT_BYTES is a 413 naming it', async (t) => {
  const res = await post('key-e', '/v1/embeddings', { model: 'nomic', input: batch(5 * MiB) });
  t.equal(res.status, 413);
  t.match(await errorOf(res), {
    code: 'request_too_large',
    message: /EMBEDDINGS_BODY_LIMIT_BYTES \(4194304 bytes\)/,
  });
  // Decompressed, the same limit: a small gzip body that inflates past it.
  const bomb = gzipSync(JSON.stringify({ model: 'nomic', input: ['x'.repeat(5 * MiB)] }));
  const gz = await fetch(`${stack.baseUrl}/v1/embeddings`, {
    method: 'POST',
    headers: { authorization: 'Bearer key-e', 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: bomb,
  });
  t.equal(gz.status, 413);
  t.match(await errorOf(gz), { message: /EMBEDDINGS_BODY_LIMIT_BYTES \(4194304 bytes\) allows once decompressed/ });
});

t.test("a large batch is charged its whole length against the tier's bytes, before it is read", async (t) => {
  // 6 MiB a minute: the first 3.5 MiB batch spends 3.5, the second finds 2.5 left. Charged at
  // most BODY_LIMIT_BYTES (1 MiB) each, both would have been taken.
  const input = batch(3.5 * MiB);
  const first = await post('key-f', '/v1/embeddings', { model: 'nomic', input, encoding_format: 'base64' });
  t.equal(first.status, 200);
  await first.json();
  const second = await post('key-f', '/v1/embeddings', { model: 'nomic', input });
  t.equal(second.status, 429);
  const error = await errorOf(second);
  t.equal(error.code, 'rate_limit_exceeded');
  const charged = Number(/this body has (\d+)/.exec(error.message)?.[1]);
  t.ok(charged > 3.5 * MiB, `charged its whole length (${charged} bytes), not BODY_LIMIT_BYTES`);
});
