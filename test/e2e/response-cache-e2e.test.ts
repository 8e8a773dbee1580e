import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseSse, sseJson } from '../helpers/sse.js';
import { responseCacheEntries, startStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const KEY_A = { authorization: 'Bearer key-a', 'content-type': 'application/json' };
const KEY_B = { authorization: 'Bearer key-b', 'content-type': 'application/json' };

function poster(stack: TestStack) {
  return (body: unknown, headers: Record<string, string> = KEY_A) =>
    fetch(`${stack.baseUrl}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body) });
}

/** Answers in the cache bucket (its stream's message count). */
let counter = 0;
/** A request no earlier test has sent, so each test starts with an empty cache entry; deterministic. */
const fresh = (extra: Record<string, unknown> = {}) => ({
  model: 'testing',
  messages: [{ role: 'user', content: `question ${++counter}` }],
  temperature: 0,
  ...extra,
});

t.test('with CACHE_TTL_SECONDS set, workers answer repeats from the shared JetStream KV cache', async (t) => {
  const stack = await startStack({ env: { CACHE_TTL_SECONDS: '30', API_KEYS: 'key-a,key-b' } });
  t.teardown(() => stack.close());
  const post = poster(stack);

  t.test('the same request again: X-Cache HIT, meta.cached, no model call, still a stored turn', async (t) => {
    stack.ollama.behave({ tokens: ['cached', ' answer'] });
    const body = fresh();
    const entries = await responseCacheEntries(stack);
    const first = await post(body);
    t.equal(first.headers.get('x-cache'), 'MISS');
    const firstJson: any = await first.json();
    // Written once the client has the answer: the next request could otherwise come first.
    await waitFor('the answer in the cache', async () => (await responseCacheEntries(stack)) > entries);
    const calls = stack.ollama.requests.length;
    const second = await post(body);
    t.equal(second.headers.get('x-cache'), 'HIT');
    const secondJson: any = await second.json();
    t.equal(stack.ollama.requests.length, calls, 'the model was not called');
    t.equal(secondJson.choices[0].message.content, 'cached answer');
    t.equal(secondJson.meta.cached, true);
    t.equal(firstJson.meta.cached, false);
    t.not(secondJson.id, firstJson.id, 'a new completion id');
    t.not(secondJson.conversation_id, firstJson.conversation_id, 'its own conversation');
    const rows = await stack.db
      .selectFrom('turns')
      .select(['request_id', 'cached', 'assistant_response'])
      .where('request_id', 'in', [firstJson.id, secondJson.id])
      .orderBy('id')
      .execute();
    t.same(
      rows.map((r) => [r.cached, r.assistant_response]),
      [
        [0, 'cached answer'],
        [1, 'cached answer'],
      ],
      'both turns stored, the second flagged cached',
    );
  });

  t.test('a streaming request replays the cached answer as a proper SSE stream', async (t) => {
    stack.ollama.behave({ tokens: ['one', ' two'] });
    const body = fresh();
    const entries = await responseCacheEntries(stack);
    await (await post(body)).json();
    await waitFor('the answer in the cache', async () => (await responseCacheEntries(stack)) > entries);
    const calls = stack.ollama.requests.length;
    const res = await post({ ...body, stream: true, stream_options: { include_usage: true } });
    t.equal(res.headers.get('x-cache'), 'HIT');
    const { events } = parseSse(await res.text());
    t.equal(events.at(-1)!.data, '[DONE]');
    const chunks = sseJson(events);
    t.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'one two');
    t.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
    t.equal(chunks.at(-2).meta.cached, true);
    t.same(chunks.at(-1).choices, []);
    t.equal(stack.ollama.requests.length, calls);
  });

  t.test('tool calls are cached too', async (t) => {
    stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'f', arguments: { a: 1 } }] });
    const body = fresh({ tools: [{ type: 'function', function: { name: 'f' } }] });
    const entries = await responseCacheEntries(stack);
    const first: any = await (await post(body)).json();
    await waitFor('the answer in the cache', async () => (await responseCacheEntries(stack)) > entries);
    const again: any = await (await post(body)).json();
    t.equal(again.meta.cached, true);
    t.equal(again.choices[0].finish_reason, 'tool_calls');
    t.match(again.choices[0].message.tool_calls, [{ id: /^call_/, function: { name: 'f', arguments: '{"a":1}' } }]);
    t.not(again.choices[0].message.tool_calls[0].id, first.choices[0].message.tool_calls[0].id, 'a call of its own');
  });

  t.test('Cache-Control: no-cache bypasses the lookup (and refreshes the entry)', async (t) => {
    stack.ollama.behave({ tokens: ['old'] });
    const body = fresh();
    await (await post(body)).json();
    stack.ollama.behave({ tokens: ['new'] });
    const bypass = await post(body, { ...KEY_A, 'cache-control': 'no-cache' });
    t.equal(bypass.headers.get('x-cache'), 'MISS');
    t.equal((await bypass.json()).choices[0].message.content, 'new');
    // The worker writes the cache once the client has its answer: the next request may come first.
    let after: any;
    for (let i = 0; i < 20 && after?.choices[0].message.content !== 'new'; i++) after = await (await post(body)).json();
    t.equal(after.choices[0].message.content, 'new', 'the fresh answer replaced the cached one');
    t.equal(after.meta.cached, true);
  });

  t.test('a different API key, sampling parameter, agent or message misses', async (t) => {
    const body = fresh({ temperature: 0.5 });
    await (await post(body)).json();
    for (const [what, res] of [
      ['another API key', await post(body, KEY_B)],
      ['another temperature', await post({ ...body, temperature: 0.6 })],
      ['another agent', await post({ ...body, model: 'documentation' })],
      ['another message', await post({ ...body, messages: [{ role: 'user', content: 'something else' }] })],
    ] as const) {
      t.equal(res.headers.get('x-cache'), 'MISS', what);
      await res.arrayBuffer();
    }
  });

  t.test("a continued conversation is not answered from another conversation's cache", async (t) => {
    const body = fresh();
    const first: any = await (await post(body)).json();
    const followUp = await post(body, { ...KEY_A, 'x-session-id': first.conversation_id });
    t.equal(followUp.headers.get('x-cache'), 'MISS', 'the history the model would see differs');
    await followUp.arrayBuffer();
  });

  t.test('by default (CACHE_MODE=deterministic) a sampled request is answered afresh; a seed is cached', async (t) => {
    stack.ollama.behave({ tokens: ['sampled'] });
    const calls = stack.ollama.requests.length;
    const sampled = fresh({ temperature: 1 });
    for (let i = 0; i < 2; i++) {
      const res = await post(sampled);
      t.equal(res.headers.get('x-cache'), 'MISS', '"Regenerate" gets a new answer');
      await res.arrayBuffer();
    }
    t.equal(stack.ollama.requests.length, calls + 2, 'both asked the model');
    const seeded = fresh({ temperature: 1, seed: 42 });
    await (await post(seeded)).arrayBuffer();
    let hit = false;
    for (let i = 0; i < 20 && !hit; i++) {
      const res = await post(seeded);
      hit = res.headers.get('x-cache') === 'HIT';
      await res.arrayBuffer();
    }
    t.ok(hit, 'a seeded request is reproducible, so it is cached');
  });

  t.test('the bucket is JetStream KV, shared by every worker', async (t) => {
    const kv = await stack.bus.request('$JS.API.STREAM.INFO.KV_agentbus_responses', new Uint8Array(), {
      timeoutMs: 5000,
    });
    const info = JSON.parse(new TextDecoder().decode(kv.data));
    t.equal(info.config.max_age, 30 * 1e9, 'max age = CACHE_TTL_SECONDS');
    t.ok(info.state.messages > 0, 'answers are stored in it');
  });
});

t.test('a cache that cannot work (no JetStream) degrades to a normal model call', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-nojs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, 'host: 127.0.0.1\n');
  const stack = await startStack({ env: { CACHE_TTL_SECONDS: '30', API_KEYS: 'key-a' }, natsConfigFile: conf });
  t.teardown(() => stack.close());
  const post = poster(stack);
  const body = fresh();
  for (let i = 0; i < 2; i++) {
    const res = await post(body);
    t.equal(res.status, 200);
    t.equal(res.headers.get('x-cache'), 'MISS');
    await res.arrayBuffer();
  }
  t.equal(stack.ollama.requests.length, 2, 'both answered by the model');
  t.ok(
    stack.logs.lines.some((l) => l['level'] === 40 && /cache/i.test(String(l['msg']))),
    'the cache problem is logged as a warning',
  );
});
