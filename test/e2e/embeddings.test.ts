import { fileURLToPath } from 'node:url';
import OpenAI, { type APIError } from 'openai';
import t from 'tap';
import { fakeEmbedding } from '../helpers/fake-ollama.js';
import { startFakeOpenAI } from '../helpers/fake-openai.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { traceLine } from '../helpers/trace-lines.js';

// /v1/embeddings with the official client: gateway → NATS (agents.<agent>.embed) → worker →
// fake Ollama's /api/embed, or a fake OpenAI-compatible upstream, over real sockets.
const upstream = await startFakeOpenAI(['text-embedding-3-small']);
t.teardown(() => upstream.close());
const stack = await startStack({
  ollamaModels: ['llama3.2:latest', 'nomic-embed-text:latest', 'all-minilm:latest'],
  env: {
    AGENTS_FILE: fileURLToPath(new URL('./fixtures/embedding-agents.json', import.meta.url)),
    OPENAI_BASE_URL: upstream.url,
  },
});
t.teardown(() => stack.close());
const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });
const close = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((value, i) => Math.abs(value - b[i]!) < 1e-6);

t.test('embeddings.create(): vectors from Ollama /api/embed, in OpenAI shape', async (t) => {
  const answer = await client.embeddings.create({
    model: 'nomic',
    input: ['hello world', 'bye'],
    encoding_format: 'float',
  });
  t.equal(answer.object, 'list');
  t.equal(answer.model, 'nomic');
  t.same(
    answer.data.map((d) => [d.object, d.index]),
    [
      ['embedding', 0],
      ['embedding', 1],
    ],
  );
  t.ok(close(answer.data[0]!.embedding, fakeEmbedding('hello world')), 'the first vector');
  t.ok(close(answer.data[1]!.embedding, fakeEmbedding('bye')), 'the second vector');
  t.same(answer.usage, { prompt_tokens: 3, total_tokens: 3 });
  t.same(stack.ollama.embedRequests.at(-1), { model: 'nomic-embed-text', input: ['hello world', 'bye'] });
});

t.test('the SDK default (base64) decodes to the same floats; a string input is one vector', async (t) => {
  const answer = await client.embeddings.create({ model: 'nomic', input: 'hello world' });
  t.equal(answer.data.length, 1);
  t.ok(close(answer.data[0]!.embedding, fakeEmbedding('hello world')));
  const raw = await fetch(`${stack.baseUrl}/v1/embeddings`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'nomic', input: 'x', encoding_format: 'base64' }),
  });
  const body = (await raw.json()) as { data: Array<{ embedding: string }> };
  t.type(body.data[0]!.embedding, 'string', 'base64 as asked');
  t.match(raw.headers.get('x-request-id'), /^embd-/);
});

t.test('dimensions: truncated and renormalized on a Matryoshka agent, refused by name elsewhere', async (t) => {
  const answer = await client.embeddings.create({
    model: 'nomic',
    input: 'hello',
    dimensions: 2,
    encoding_format: 'float',
  });
  const full = fakeEmbedding('hello').slice(0, 2);
  const norm = Math.hypot(...full);
  t.ok(
    close(
      answer.data[0]!.embedding,
      full.map((v) => v / norm),
    ),
  );
  const err = (await client.embeddings
    .create({ model: 'minilm', input: 'hello', dimensions: 2 })
    .catch((e: unknown) => e)) as APIError;
  t.same([err.status, err.param], [400, 'dimensions']);
});

t.test('the openai provider: floats by index, token arrays passed on', async (t) => {
  const answer = await client.embeddings.create({
    model: 'remote',
    input: [[1, 2, 3], [4]],
    encoding_format: 'float',
  });
  t.ok(close(answer.data[0]!.embedding, fakeEmbedding('1 2 3')), 'placed by index');
  t.ok(close(answer.data[1]!.embedding, fakeEmbedding('4')));
  t.same(answer.usage, { prompt_tokens: 4, total_tokens: 4 });
  t.match(upstream.embedRequests.at(-1), { model: 'text-embedding-3-small', input: [[1, 2, 3], [4]] });
});

t.test("an embedding agent's own base URL: /agents/<agent>/v1/embeddings", async (t) => {
  const own = new OpenAI({ baseURL: `${stack.baseUrl}/agents/nomic/v1`, apiKey: 'local-only', maxRetries: 0 });
  const answer = await own.embeddings.create({ model: 'nomic', input: 'hello world', encoding_format: 'float' });
  t.equal(answer.model, 'nomic');
  t.ok(close(answer.data[0]!.embedding, fakeEmbedding('hello world')));
  // The path names the agent: no model needed, and one in the body is only a hint.
  const post = (agent: string, body: unknown) =>
    fetch(`${stack.baseUrl}/agents/${agent}/v1/embeddings`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify(body),
    });
  const unnamed = await post('remote', { input: [[4]], encoding_format: 'float' });
  const vectors = (await unnamed.json()) as { model: string; data: Array<{ embedding: number[] }> };
  t.equal(unnamed.status, 200);
  t.equal(vectors.model, 'remote');
  t.ok(close(vectors.data[0]!.embedding, fakeEmbedding('4')));
  const hinted = await post('minilm', { model: 'nomic', input: 'x' });
  t.match(await hinted.json(), { model: 'minilm' });
  const chat = await post('testing', { input: 'x' });
  t.equal(chat.status, 400, "a chat agent's base URL makes no embeddings");
  t.match(await chat.json(), {
    error: { param: 'model', message: /"testing" is a chat agent and makes no embeddings/ },
  });
});

t.test('wrong kinds and unsupported inputs are refused clearly', async (t) => {
  const refused = async (model: string, input: string | string[] | number[]) => {
    const err = (await client.embeddings.create({ model, input }).catch((e: unknown) => e)) as APIError;
    return [err.status, err.param, err.message];
  };
  t.match(await refused('testing', 'x'), [400, 'model', /chat agent/]);
  t.match(await refused('nope', 'x'), [404, 'model', /Embedding models: nomic, minilm, remote/]);
  t.match(await refused('nomic', [1, 2]), [400, 'input', /Ollama embeds text only/]);
  const byWorker = (await client.embeddings
    .create({ model: 'nomic', input: [1, 2] })
    .catch((e: unknown) => e)) as APIError;
  t.match(byWorker.requestID, /^embd-/, "the worker's refusal carries the request's id, as a chat's error does");
  t.match(await refused('nomic', ''), [400, 'input', /^400 input is empty/], 'one input is named as sent');
  t.match(await refused('nomic', ['a', '']), [400, 'input[1]', /^400 input\[1\] is empty/]);
  const chat = (await client.chat.completions
    .create({ model: 'nomic', messages: [{ role: 'user', content: 'hi' }] })
    .catch((e: unknown) => e)) as APIError;
  t.match([chat.status, chat.param, chat.message], [400, 'model', /embedding model/]);
});

t.test('the request is trace-logged, and nothing is stored', async (t) => {
  const res = await fetch(`${stack.baseUrl}/v1/embeddings`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'nomic', input: 'traced text' }),
  });
  t.equal(res.status, 200);
  const line = await traceLine(stack.config.logDir, 'nomic', res.headers.get('x-request-id')!);
  t.match(line, { agent: 'nomic', model: 'nomic-embed-text', prompt: 'traced text', status: 200, session: null });
  const turns = await stack.db.selectFrom('turns').select('request_id').execute();
  t.equal(turns.length, 0, 'no turn, no session for an embedding');
});

t.test('GET /v1/models lists embedding models as such', async (t) => {
  const models = await client.models.list();
  const kinds = Object.fromEntries(models.data.map((m) => [m.id, (m as unknown as { kind: string }).kind]));
  t.same(kinds, { testing: 'chat', nomic: 'embedding', minilm: 'embedding', remote: 'embedding', auto: 'chat' });
  const one = (await client.models.retrieve('nomic')) as unknown as { kind: string };
  t.equal(one.kind, 'embedding');
});

t.test('private input stays on local providers: X-Private, or a secret in the input', async (t) => {
  const before = upstream.embedRequests.length;
  const asked = (headers: Record<string, string>, input: string) =>
    fetch(`${stack.baseUrl}/v1/embeddings`, {
      method: 'POST',
      headers: { ...AUTH, ...headers },
      body: JSON.stringify({ model: 'remote', input }),
    });
  const flagged = await asked({ 'x-private': 'true' }, 'plain text');
  t.equal(flagged.status, 503);
  t.match(await flagged.json(), { error: { code: 'no_local_provider' } });
  const secret = await asked({}, 'my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD');
  t.match(await secret.json(), { error: { code: 'no_local_provider' } });
  t.equal(upstream.embedRequests.length, before, 'the remote provider saw neither');
});

t.test('/ready counts the workers of embedding agents like any agent', async (t) => {
  const res = await fetch(`${stack.baseUrl}/ready`);
  t.equal(res.status, 200);
  t.match(await res.json(), { status: 'ready', agents: { testing: 1, nomic: 1, minilm: 1, remote: 1 } });
});
