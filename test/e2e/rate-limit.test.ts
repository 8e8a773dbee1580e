import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildApp } from '../../gateway/app.js';
import { connectBus } from '../../common/bus.js';
import { createLogger } from '../../common/logger.js';
import { DEFAULT_RATE_LIMIT_BUCKET, keyOf } from '../../gateway/rate-limit/tenant-store.js';
import { tenantOf } from '../../gateway/auth/bearer-auth.js';
import { openLiveClient } from '../helpers/ws-client.js';
import { startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// Two gateway replicas on one nats-server share each key's limits through the KV bucket. The
// test tier: 3 requests per minute, 2 in flight; every key of API_KEYS has it.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-rate-'));
const tiersFile = join(dir, 'rate-tiers.json');
writeFileSync(
  tiersFile,
  JSON.stringify({
    tiers: { standard: { requests_per_minute: 3, concurrent_streams: 2 }, premium: {}, unlimited: {} },
  }),
);
const stack = await startStack({
  env: { API_KEYS: 'key-a,key-b,key-c,key-d,key-e,key-f', API_KEYS_TIER: 'standard', RATE_TIERS_FILE: tiersFile },
});
const secondBus = await connectBus({
  url: stack.natsUrl,
  role: 'gateway',
  name: 'replica-2',
  log: createLogger('off'),
});
const second = await buildApp({
  config: stack.config,
  bus: secondBus,
  catalog: stack.catalog,
  logger: createLogger('replica-2', { level: 'debug', destination: stack.logs }),
});
const secondUrl = await second.listen({ port: 0, host: '127.0.0.1' });
const replicas = [stack.baseUrl, secondUrl] as const;
const kv = await stack.bus.kvm().open(DEFAULT_RATE_LIMIT_BUCKET);
t.teardown(async () => {
  await second.close();
  await secondBus.drain(2000);
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});

// Every chat request published, whichever gateway sent it.
let published = 0;
const sub = stack.bus.subscribe(`${stack.config.subjectPrefix}.*.chat`, {
  callback: () => {
    published++;
  },
});
t.teardown(() => sub.unsubscribe());
const rowCount = async () => (await stack.db.selectFrom('turns').select('id').execute()).length;

const chat = (baseUrl: string, key: string, init: { stream?: boolean; signal?: AbortSignal } = {}) =>
  fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'code_review',
      messages: [{ role: 'user', content: 'hello' }],
      stream: init.stream === true,
    }),
    signal: init.signal,
  });
const leasesOf = async (key: string) => {
  const entry = await kv.get(keyOf(tenantOf(key)));
  return entry?.operation === 'PUT' ? Object.keys(entry.json<{ leases: Record<string, number> }>().leases) : [];
};

t.test('the limit is shared: 3 per minute across both replicas, the 4th is 429 wherever it lands', async (t) => {
  const first = await chat(replicas[0], 'key-a');
  t.equal(first.status, 200);
  t.equal(first.headers.get('x-ratelimit-limit-requests'), '3');
  t.equal(first.headers.get('x-ratelimit-remaining-requests'), '2');
  t.match(first.headers.get('x-ratelimit-reset-requests'), /^\d+s$/);
  t.equal(first.headers.get('ratelimit-policy'), '3;w=60');
  await first.json();
  for (const [i, url] of [replicas[1], replicas[1]].entries()) {
    const res = await chat(url, 'key-a', { stream: i === 1 });
    t.equal(res.status, 200, `request ${i + 2} on replica 2`);
    t.equal(res.headers.get('x-ratelimit-remaining-requests'), String(1 - i), 'streamed answers carry the headers too');
    await res.text();
  }
  const before = {
    published,
    rows: await rowCount(),
    backend: stack.ollama.requests.length,
    entry: await kv.get(keyOf(tenantOf('key-a'))),
  };
  for (const url of replicas) {
    const refused = await chat(url, 'key-a');
    t.equal(refused.status, 429, `refused on ${url === replicas[0] ? 'replica 1' : 'replica 2'}`);
    const body = await refused.json();
    t.same(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    t.match(body.error, { code: 'rate_limit_exceeded', type: 'requests', param: null });
    t.match(
      body.error.message,
      /^Rate limit reached for key "[^"]+": 3 requests per minute \(tier standard\)\. Try again in \d+ s\.$/,
    );
    const retryAfter = Number(refused.headers.get('retry-after'));
    t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter} is within the minute`);
    t.equal(body.error.message.match(/in (\d+) s/)[1], String(retryAfter), 'the message and Retry-After agree');
    t.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
    t.equal(refused.headers.get('x-should-retry'), 'true');
  }
  t.equal(published, before.published, 'a refused request publishes nothing');
  t.equal(stack.ollama.requests.length, before.backend, 'and reaches no model');
  t.equal(await rowCount(), before.rows, 'and stores no turn');
  t.equal(
    (await kv.get(keyOf(tenantOf('key-a'))))?.revision,
    before.entry?.revision,
    "and does not change the limiter's entry",
  );
  const other = await chat(replicas[0], 'key-d');
  t.equal(other.status, 200, 'another key has its own buckets');
  await other.text();
});

t.test(
  'concurrency cap across replicas: 2 in flight, the 3rd is refused, a slot frees when a stream ends',
  async (t) => {
    // The model holds both streams until the third request has been refused: no timing involved.
    const letGo = stack.ollama.hold();
    t.teardown(letGo);
    const backend = stack.ollama.requests.length;
    const slow = [chat(replicas[0], 'key-b', { stream: true }), chat(replicas[1], 'key-b', { stream: true })];
    await waitFor('both slow streams at the model', () => stack.ollama.requests.length >= backend + 2);
    t.equal((await leasesOf('key-b')).length, 2, 'two leases in the shared entry');
    const third = await chat(replicas[1], 'key-b');
    t.equal(third.status, 429);
    const body = await third.json();
    t.equal(body.error.code, 'too_many_concurrent_requests');
    t.match(
      body.error.message,
      /Concurrency limit reached for key "[^"]+": 2 requests in flight at once \(tier standard\)/,
    );
    t.equal(third.headers.get('retry-after'), '1');
    letGo();
    for (const res of await Promise.all(slow)) {
      t.equal(res.status, 200);
      t.match(await res.text(), /data: \[DONE\]/);
    }
    t.same(await leasesOf('key-b'), [], 'both leases released when the streams ended');
    // The refused one took no token: this is the key's third request of the minute.
    const next = await chat(replicas[0], 'key-b');
    t.equal(next.status, 200, 'a next one succeeds at once');
    t.equal(next.headers.get('x-ratelimit-remaining-requests'), '0');
    await next.json();
  },
);

t.test('bodies refused with a 4xx after admission free their slot and give their token back', async (t) => {
  const post = async (body: string) => {
    const res = await fetch(`${replicas[0]}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer key-e', 'content-type': 'application/json' },
      body,
    });
    return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code };
  };
  const bad = [
    '{"model": "code_review", "messages": [',
    JSON.stringify({ model: 'code_review' }),
    JSON.stringify({ model: 'no_such_agent', messages: [{ role: 'user', content: 'hi' }] }),
    JSON.stringify({ model: 'code_review', messages: [{ role: 'user', content: 'x'.repeat(2 * 1024 * 1024) }] }),
    '{"model": "code_review", "messages": [',
  ];
  // Five of them, more than the key's 3 a minute: admitted one by one, each token given back.
  const outcomes = [];
  for (const body of bad) outcomes.push(await post(body));
  t.same(
    outcomes.map((o) => o.code),
    ['invalid_json', 'invalid_request', 'model_not_found', 'request_too_large', 'invalid_json'],
  );
  await waitFor('every slot freed', async () => (await leasesOf('key-e')).length === 0);
  const next = await chat(replicas[1], 'key-e');
  t.equal(next.status, 200);
  t.equal(next.headers.get('x-ratelimit-remaining-requests'), '2', 'none of the refused bodies spent a token');
  await next.json();
});

t.test('every route that calls a model is admitted before its body is read', async (t) => {
  // key-f's two slots are held by streams at the model; a third request on any route is refused
  // by its key alone, so even a body that is not JSON (or not multipart) gets the 429, not a 400.
  const letGo = stack.ollama.hold();
  t.teardown(letGo);
  const backend = stack.ollama.requests.length;
  const slow = [chat(replicas[0], 'key-f', { stream: true }), chat(replicas[1], 'key-f', { stream: true })];
  await waitFor('both slow streams at the model', () => stack.ollama.requests.length >= backend + 2);
  const routes: Array<[string, string]> = [
    ['/v1/responses', 'application/json'],
    ['/v1/embeddings', 'application/json'],
    ['/v1/audio/speech', 'application/json'],
    ['/v1/audio/transcriptions', 'multipart/form-data; boundary=x'],
  ];
  const post = async (path: string, type: string) => {
    const res = await fetch(`${replicas[1]}${path}`, {
      method: 'POST',
      headers: { authorization: 'Bearer key-f', 'content-type': type },
      body: '{"not": ',
    });
    return `${path} ${res.status} ${((await res.json()) as { error: { code: string } }).error.code}`;
  };
  const refused = [];
  for (const [path, type] of routes) refused.push(await post(path, type));
  t.same(
    refused,
    routes.map(([path]) => `${path} 429 too_many_concurrent_requests`),
  );
  letGo();
  for (const res of await Promise.all(slow)) await res.text();
  await waitFor('both slots freed', async () => (await leasesOf('key-f')).length === 0);
  // Admitted now, the same bodies fail on their own, and each gives its token back.
  const rejected = [];
  for (const [path, type] of routes) rejected.push(await post(path, type));
  t.same(
    rejected.map((line) => line.split(' ')[1]),
    ['400', '400', '400', '400'],
    rejected.join('; '),
  );
  await waitFor('every slot freed', async () => (await leasesOf('key-f')).length === 0);
  const next = await chat(replicas[0], 'key-f');
  t.equal(next.status, 200);
  t.equal(next.headers.get('x-ratelimit-remaining-requests'), '0', 'only the two streams and this one spent tokens');
  await next.json();
});

t.test('a client that leaves mid-stream frees its slot', async (t) => {
  stack.ollama.behave({ firstTokenDelayMs: 2000 });
  t.teardown(() => stack.ollama.behave({ firstTokenDelayMs: 0 }));
  const backend = stack.ollama.requests.length;
  const gone = new AbortController();
  const pending = chat(replicas[1], 'key-d', { stream: true, signal: gone.signal }).catch(() => undefined);
  await waitFor('the stream at the model', () => stack.ollama.requests.length >= backend + 1);
  t.equal((await leasesOf('key-d')).length, 1);
  gone.abort();
  await pending;
  await waitFor('the lease released', async () => (await leasesOf('key-d')).length === 0);
  t.pass('released without waiting for the lease to lapse');
});

t.test('WebSocket: a refused chat frame ends with an error frame carrying the code and retry_after', async (t) => {
  const client = await openLiveClient(replicas[1], { headerKey: 'key-c' });
  t.teardown(() => client.close());
  await client.next((frame) => frame.type === 'ready');
  const base = { type: 'chat', agent: 'code_review', messages: [{ role: 'user', content: 'hi' }] };
  // One token spent over HTTP on the other replica first: the socket sees the same buckets.
  const http = await chat(replicas[0], 'key-c');
  t.equal(http.status, 200);
  await http.json();
  for (const id of ['w1', 'w2']) {
    client.send({ ...base, id });
    const { terminal } = await client.finish(id);
    t.equal(terminal.type, 'done', `${id} answered`);
  }
  const before = published;
  client.send({ ...base, id: 'w3' });
  const { terminal } = await client.finish('w3');
  t.match(terminal, { type: 'error', id: 'w3', seq: 0, error: { code: 'rate_limit_exceeded', type: 'requests' } });
  const retryAfter = (terminal as { retry_after?: number }).retry_after;
  t.ok(retryAfter !== undefined && retryAfter >= 1 && retryAfter <= 60, `retry_after ${retryAfter}`);
  t.equal(published, before, 'nothing published for it');
  t.same(client.invalidFrames, [], 'every frame matches the server frame schema');
});

t.test('a lost bucket: limited keys get 503 (or, with RATE_LIMIT_STORE_DOWN=open, no limit)', async (t) => {
  const open = await buildApp({
    config: { ...stack.config, rateLimitStoreDown: 'open' },
    bus: secondBus,
    catalog: stack.catalog,
    logger: createLogger('replica-open', { level: 'debug', destination: stack.logs }),
  });
  const openUrl = await open.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => open.close());
  await (await stack.bus.jetstreamManager()).streams.delete(`KV_${DEFAULT_RATE_LIMIT_BUCKET}`);
  const closed = await chat(replicas[0], 'key-a');
  t.equal(closed.status, 503, 'closed (the default): refused while the store cannot count it');
  t.equal(closed.headers.get('retry-after'), '1');
  t.match(await closed.json(), { error: { code: 'rate_limit_unavailable', type: 'server_error' } });
  const res = await chat(openUrl, 'key-a');
  t.equal(res.status, 200, 'open: let through, the store did not answer');
  t.equal(res.headers.get('x-ratelimit-limit-requests'), null, 'unlimited, so no limit headers');
  await res.json();
  t.ok(
    stack.logs.lines.some((line) => line['reason'] === 'store_unavailable'),
    'a warning says so',
  );
  // Reopened at most once a second: a few more requests may go through unlimited first.
  let remaining: string | null = null;
  await waitFor(
    'the bucket recreated',
    async () => {
      const after = await chat(replicas[0], 'key-a');
      await after.json();
      if (after.status !== 200 && after.status !== 503) t.fail(`unexpected ${after.status}`);
      remaining = after.headers.get('x-ratelimit-remaining-requests');
      return after.status === 200 && remaining !== null;
    },
    5000,
  );
  t.equal(remaining, '2', 'the bucket came back, empty of state');
});

t.test('the unlimited tier (the default of API_KEYS) is never limited, and CORS exposes the headers', async (t) => {
  const open = await startStack({ env: { RATE_TIERS_FILE: tiersFile, CORS_ORIGINS: 'https://app.example' } });
  t.teardown(() => open.close());
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${open.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer local-only',
        'content-type': 'application/json',
        origin: 'https://app.example',
      },
      body: JSON.stringify({ model: 'code_review', messages: [{ role: 'user', content: `hi ${i}` }] }),
    });
    t.equal(res.status, 200, `request ${i + 1}`);
    t.equal(res.headers.get('x-ratelimit-limit-requests'), null, 'no limit, no headers');
    t.match(res.headers.get('access-control-expose-headers'), /x-ratelimit-remaining-requests/);
    await res.json();
  }
});
