import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';
import { TEST_GGUF } from '../helpers/test-model.js';
import { traceLine } from '../helpers/trace-lines.js';

// Real embeddings end to end: the openai SDK → gateway → NATS → worker → node-llama-cpp's
// embedding context on the tiny model of ../shared/models. Assertions are about structure and
// determinism, never about what the vectors mean.
const MODEL = TEST_GGUF;

const stack = await startStack({
  env: {
    AGENTS_FILE: fileURLToPath(new URL('./fixtures/llama-cpp-embedding-agents.json', import.meta.url)),
    PROVIDER: 'llama-cpp',
    LLAMA_CPP_MODEL_PATH: MODEL,
    LLAMA_CPP_CONTEXT_SIZE: '256',
  },
  workerAgents: ['stories'],
});
t.teardown(() => stack.close());
const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });
const dot = (a: readonly number[], b: readonly number[]) => a.reduce((sum, value, i) => sum + value * b[i]!, 0);

t.test('one unit vector per input, the same text always the same vector', async (t) => {
  const answer = await client.embeddings.create({
    model: 'stories',
    input: ['Once upon a time there was a cat.', 'The dog ran home.', 'Once upon a time there was a cat.'],
    encoding_format: 'float',
  });
  t.equal(answer.data.length, 3);
  const [a, b, c] = answer.data.map((d) => d.embedding);
  t.ok(a!.length > 0 && a!.length === b!.length, `vectors of ${a!.length} dimensions`);
  t.ok(Math.abs(dot(a!, a!) - 1) < 1e-4, 'unit length');
  t.ok(Math.abs(dot(a!, c!) - 1) < 1e-4, 'the same text, the same vector');
  t.ok(dot(a!, b!) < 0.9999, 'another text, another vector');
  t.ok(answer.usage.prompt_tokens > 3, 'the tokens the model read');
  t.equal(answer.usage.total_tokens, answer.usage.prompt_tokens);
});

t.test('token arrays go to the engine as they are; the SDK default base64 decodes', async (t) => {
  const answer = await client.embeddings.create({ model: 'stories', input: [[1, 2, 3]] });
  t.equal(answer.data.length, 1);
  t.ok(Math.abs(dot(answer.data[0]!.embedding, answer.data[0]!.embedding) - 1) < 1e-4);
  t.equal(answer.usage.prompt_tokens, 3);
});

t.test("a token id beyond the vocabulary is the request's mistake: a 400 naming the input", async (t) => {
  const err = await client.embeddings
    .create({
      model: 'stories',
      input: [
        [1, 2],
        [3, 512],
      ],
    })
    .catch((e: unknown) => e as { status: number; param: string; code: string; message: string });
  t.match(err, { status: 400, code: 'invalid_request', param: 'input[1]', message: /token id 512.* 512 tokens/ });
  const fine = await client.embeddings.create({ model: 'stories', input: [[511]] });
  t.equal(fine.data.length, 1, 'the last id of the vocabulary is one');
});

t.test('an input longer than the context is a 400 naming it, and shuts nothing for other requests', async (t) => {
  // More of them than BREAKER_FAILURES (3): as backend failures they opened the provider's circuit.
  for (let i = 0; i < 4; i++) {
    const err = await client.embeddings
      .create({ model: 'stories', input: ['short', 'word '.repeat(400)] })
      .catch((e: unknown) => e as { status: number; param: string; code: string; message: string });
    t.match(err, { status: 400, code: 'context_length_exceeded', param: 'input[1]', message: /takes \d+ tokens/ });
  }
  const tokens = await client.embeddings
    .create({ model: 'stories', input: [Array.from({ length: 300 }, () => 1)] })
    .catch((e: unknown) => e as { status: number; param: string });
  t.match(tokens, { status: 400, param: 'input[0]' }, 'a token array too');
  const one = await client.embeddings
    .create({ model: 'stories', input: 'word '.repeat(400) })
    .catch((e: unknown) => e as { status: number; param: string; message: string });
  t.match(one, { status: 400, param: 'input', message: /^400 input takes \d+ tokens/ }, 'one input is named as sent');
  const fine = await client.embeddings.create({ model: 'stories', input: 'hello' });
  t.equal(fine.data.length, 1, 'the provider still answers');
});

t.test('dimensions is refused by name: the tiny model is not Matryoshka-trained', async (t) => {
  const err = await client.embeddings
    .create({ model: 'stories', input: 'x', dimensions: 8 })
    .catch((e: unknown) => e as { status: number; param: string });
  t.match(err, { status: 400, param: 'dimensions' });
});

t.test('the trace line names the model that embedded, not the catalog default', async (t) => {
  const res = await fetch(`${stack.baseUrl}/v1/embeddings`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'stories', input: 'traced' }),
  });
  t.equal(res.status, 200);
  const line = await traceLine(stack.config.logDir, 'stories', res.headers.get('x-request-id')!);
  t.match(line, { agent: 'stories', model: 'stories260K.gguf', status: 200 });
});
