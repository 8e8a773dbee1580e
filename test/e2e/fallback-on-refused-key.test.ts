import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startFakeOpenAI } from '../helpers/fake-openai.js';
import { parseSse, sseJson } from '../helpers/sse.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { waitUntil } from '../helpers/wait.js';

// An agent whose backend refuses the worker's key (the fake OpenAI answering 401) falls back to its
// catalog `fallback`, another backend (the fake Ollama) that answers: real gateway, NATS and worker.
const upstream = await startFakeOpenAI(['gpt-test']);
t.teardown(() => upstream.close());
const dir = mkdtempSync(join(tmpdir(), 'agentbus-refused-key-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const agentsFile = join(dir, 'agents.json');
const agent = (name: string, extra: Record<string, unknown>) => ({
  name,
  description: `${name} agent`,
  system_prompt: `You are ${name}.`,
  ...extra,
});
const CLOUD = [{ provider: 'openai', model: 'gpt-test' }];
writeFileSync(
  agentsFile,
  JSON.stringify({
    agents: [
      agent('cloud_primary', { providers: CLOUD, fallback: 'local_backup' }),
      agent('local_backup', { providers: [{ provider: 'ollama' }] }),
      agent('cloud_alone', { providers: CLOUD }),
    ],
  }),
);
const stack = await startStack({
  env: { AGENTS_FILE: agentsFile, OPENAI_BASE_URL: upstream.url, OPENAI_API_KEY: 'sk-revoked' },
});
t.teardown(() => stack.close());
t.beforeEach(() => upstream.behave({ failWith: { status: 401, message: 'Incorrect API key provided' } }));

const ask = (model: string, body: Record<string, unknown> = {}) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...body }),
  });
const REFUSED = { kind: 'agent', from: 'cloud_primary', to: 'local_backup', reason: 'backend_auth_failed' };

t.test('the fallback agent answers at once; the refusing agent is asked once, not retried', async (t) => {
  const [cloudBefore, localBefore] = [upstream.requests.length, stack.ollama.requests.length];
  const res = await ask('cloud_primary');
  t.equal(res.status, 200);
  const body: any = await res.json();
  t.equal(body.choices[0].message.content, 'Hello from the fake model.', 'the second backend answered');
  t.equal(body.meta.agent, 'local_backup');
  t.same(body.meta.fallback, [REFUSED], 'no retry step: the same key would be refused again');
  t.equal(upstream.requests.length - cloudBefore, 1, 'the refusing upstream was asked once');
  t.equal(stack.ollama.requests.length - localBefore, 1);
  t.ok(
    await waitUntil(async () => {
      const turns = await stack.db.selectFrom('turns').select('agent').where('request_id', '=', body.id).execute();
      return turns.length === 1 && turns[0]!.agent === 'local_backup';
    }),
    "one turn, the fallback's",
  );
});

t.test('streamed, the fallback answers as one stream ending with [DONE]', async (t) => {
  const res = await ask('cloud_primary', { stream: true });
  t.equal(res.status, 200);
  const { events } = parseSse(await res.text());
  t.equal(events.at(-1)?.data, '[DONE]');
  const chunks = sseJson(events);
  t.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'Hello from the fake model.');
  t.same(chunks.find((c) => c.meta?.fallback)?.meta.fallback, [REFUSED]);
});

t.test('with no fallback agent, the 502 stays: not to retry, asked once', async (t) => {
  const before = upstream.requests.length;
  const res = await ask('cloud_alone');
  t.equal(res.status, 502);
  t.equal(res.headers.get('x-should-retry'), 'false');
  const body: any = await res.json();
  t.match(body.error, { code: 'backend_auth_failed', message: /refused the key \(HTTP 401\): set OPENAI_API_KEY/ });
  t.notMatch(body.error.message, /attempt/, 'no earlier attempt to name');
  t.equal(upstream.requests.length - before, 1);
});
