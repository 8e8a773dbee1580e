import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connectBus, type Bus } from '../../common/bus.js';
import t from 'tap';
import { createLogger } from '../../common/logger.js';
import { findNatsServer, startNatsServer } from '../../scripts/lib/nats-server.js';
import { cacheKey, type CacheKeyParts } from '../../workers/cache/cache-key.js';
import { openResponseCache, type CachedAnswer, type ResponseCacheOptions } from '../../workers/cache/response-cache.js';
import { startTestNats } from '../helpers/nats.js';

// startTestNats() passes -js; a config file without a jetstream block gives a server without it.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-cache-'));
const noJetStreamConf = join(dir, 'no-jetstream.conf');
writeFileSync(noJetStreamConf, '# no jetstream block: JetStream stays off\n');

const nats = await startTestNats();
const connections: Bus[] = [];
const disposers: Array<() => Promise<void>> = [];
t.teardown(async () => {
  for (const nc of connections) if (!nc.closed) await nc.close();
  await Promise.all(disposers.map((dispose) => dispose()));
  await nats.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function connectTo(url: string): Promise<Bus> {
  const nc = await connectBus({ url, role: 'worker', name: 'test', log: createLogger('off') });
  connections.push(nc);
  return nc;
}

/** JSON log lines as objects, so tests assert on fields. */
class LogSink extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line) this.lines.push(JSON.parse(line));
    done();
  }
  warnings(reason?: string): Array<Record<string, unknown>> {
    return this.lines.filter((line) => line['level'] === 40 && (reason === undefined || line['reason'] === reason));
  }
}

function logger() {
  const sink = new LogSink();
  return { sink, log: createLogger('cache-test', { level: 'debug', destination: sink }) };
}

async function open(nc: Bus, bucket: string, extra: Partial<ResponseCacheOptions> = {}) {
  const { sink, log } = logger();
  // A generous timeout, so a busy test machine does not turn hits into misses; one test sets its own.
  const cache = await openResponseCache({ bus: nc, ttlSeconds: 30, bucket, log, opTimeoutMs: 2000, ...extra });
  return { cache, sink };
}

const answer = (over: Partial<CachedAnswer> = {}): CachedAnswer => ({
  content: 'Hello!',
  finish_reason: 'stop',
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  model: 'llama3.2',
  stored_at: Date.now(),
  ...over,
});

/** Polls `probe` until it returns true, failing the test at the deadline instead of hanging. */
async function eventually(probe: () => Promise<boolean>, deadlineMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return probe();
}

/** Whether the process has really stopped after SIGSTOP (the signal is delivered asynchronously). */
function isStopped(pid: number): boolean {
  try {
    return /^\d+ \(.*\) [Tt] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc: the bounds below still hold the operations to opTimeoutMs
  }
}

const parts = (): CacheKeyParts => ({
  tenant: 'key_0123456789abcdef',
  agent: 'code_review',
  model: 'llama3.2',
  options: { temperature: 0.2, max_tokens: 64, stop: ['\n\n'] },
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'hi' },
  ],
  history: [
    { role: 'user', content: 'before' },
    { role: 'assistant', content: 'ok' },
  ],
  tools: [
    {
      type: 'function',
      function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } } },
    },
  ],
  tool_choice: 'auto',
  response_format: { type: 'json_object' },
});

t.test('cacheKey: stable under key order, different for every part that changes the answer', async (t) => {
  const base = cacheKey(parts());
  t.match(base, new RegExp(`^${parts().agent}\\.[0-9a-f]{64}$`), 'the agent, then sha256 hex: a valid KV key');
  t.equal(cacheKey(parts()), base, 'deterministic');

  const reordered: CacheKeyParts = {
    response_format: { type: 'json_object' },
    tool_choice: 'auto',
    tools: [
      {
        function: { parameters: { properties: { a: { type: 'string' } }, type: 'object' }, name: 'f' },
        type: 'function',
      },
    ],
    history: [
      { content: 'before', role: 'user' },
      { content: 'ok', role: 'assistant' },
    ],
    messages: [
      { content: 'be brief', role: 'system' },
      { content: 'hi', role: 'user' },
    ],
    options: { stop: ['\n\n'], max_tokens: 64, temperature: 0.2, top_p: undefined },
    model: 'llama3.2',
    agent: 'code_review',
    tenant: 'key_0123456789abcdef',
  };
  t.equal(cacheKey(reordered), base, 'object keys in another order and undefined options hash the same');
  t.equal(
    cacheKey({ ...parts(), options: undefined }),
    cacheKey({ ...parts(), options: {} }),
    'no options equals empty options',
  );

  const variants: Array<[string, Partial<CacheKeyParts>]> = [
    ['another tenant', { tenant: 'key_fedcba9876543210' }],
    ['another agent', { agent: 'translator' }],
    ['another model', { model: 'qwen2.5' }],
    ['another option value', { options: { temperature: 0.3, max_tokens: 64, stop: ['\n\n'] } }],
    ['an extra option', { options: { temperature: 0.2, max_tokens: 64, stop: ['\n\n'], seed: 1 } }],
    [
      'another message',
      {
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hi!' },
        ],
      },
    ],
    [
      'another message order',
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'system', content: 'be brief' },
        ],
      },
    ],
    ['other history', { history: [{ role: 'user', content: 'before' }] }],
    ['no history', { history: undefined }],
    ['other tools', { tools: [] }],
    ['another tool_choice', { tool_choice: 'none' }],
    ['another response_format', { response_format: { type: 'text' } }],
  ];
  const seen = new Set([base]);
  for (const [name, change] of variants) {
    const key = cacheKey({ ...parts(), ...change });
    t.not(key, base, `${name} → a different key`);
    seen.add(key);
  }
  t.equal(seen.size, variants.length + 1, 'all variants differ from each other too');
});

t.test('an answer stored by one worker is read by another (a second connection)', async (t) => {
  const writer = await open(await connectTo(nats.url), 'resp_shared');
  const reader = await open(await connectTo(nats.url), 'resp_shared');
  t.equal(writer.cache.enabled, true);
  const key = cacheKey(parts());
  const stored = answer({
    content: '',
    finish_reason: 'tool_calls',
    tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":"x"}' } }],
  });
  await writer.cache.put(key, stored);
  t.same(await reader.cache.get(key), stored);
  t.equal(await reader.cache.get(cacheKey({ ...parts(), tenant: 'someone_else' })), undefined, 'another key misses');

  const status = await (await (await connectTo(nats.url)).kvm().open('resp_shared')).status();
  t.equal(status.ttl, 30_000, 'the bucket max age is the TTL');
  t.equal(status.history, 1);
  t.same([...writer.sink.warnings(), ...reader.sink.warnings()], [], 'no warnings');
});

t.test('TTL: an entry is gone after ttlSeconds, both to the cache and on the server', async (t) => {
  const nc = await connectTo(nats.url);
  const { cache } = await open(nc, 'resp_ttl', { ttlSeconds: 1 });
  const key = cacheKey(parts());
  const putAt = Date.now();
  await cache.put(key, answer({ stored_at: putAt }));
  t.ok(await cache.get(key), 'a hit right away');
  t.ok(await eventually(async () => (await cache.get(key)) === undefined, 5000), 'a miss within the deadline');
  t.ok(Date.now() - putAt >= 1000, 'not before the TTL');
  const raw = await nc.kvm().open('resp_ttl');
  t.ok(await eventually(async () => (await raw.get(key)) === null, 10_000), 'the server expired it as well');
});

t.test('an entry older than the TTL is a miss even if the server still has it', async (t) => {
  const { cache } = await open(await connectTo(nats.url), 'resp_stale');
  await cache.put('stale', answer({ stored_at: Date.now() - 31_000 }));
  t.equal(await cache.get('stale'), undefined);
});

t.test('an existing bucket with another TTL is changed to the configured one', async (t) => {
  const nc = await connectTo(nats.url);
  await open(nc, 'resp_retune', { ttlSeconds: 30 });
  const { sink } = await open(nc, 'resp_retune', { ttlSeconds: 5 });
  t.equal((await (await nc.kvm().open('resp_retune')).status()).ttl, 5000);
  t.match(sink.lines, [{ msg: 'changed the response cache bucket TTL', fromMs: 30_000, toMs: 5000 }]);
});

t.test('ttlSeconds 0 disables the cache: nothing stored, nothing read, no bucket', async (t) => {
  const nc = await connectTo(nats.url);
  const { cache, sink } = await open(nc, 'resp_off', { ttlSeconds: 0 });
  t.equal(cache.enabled, false);
  await cache.put('k', answer());
  const jsm = await nc.jetstreamManager();
  await t.rejects(jsm.streams.info('KV_resp_off'), /stream not found/, 'no bucket was created');

  // An answer another (enabled) worker stored is not read either.
  const enabled = await open(nc, 'resp_off');
  await enabled.cache.put('k', answer());
  t.ok(await enabled.cache.get('k'));
  t.equal(await cache.get('k'), undefined);
  t.same(sink.lines, [], 'nothing logged');
  await t.rejects(
    openResponseCache({ bus: nc, ttlSeconds: -1, log: createLogger('x', { destination: new LogSink() }) }),
    RangeError,
  );
});

t.test('a server without JetStream: misses, stores nothing, one warning, no throw', async (t) => {
  const plain = await startTestNats(noJetStreamConf);
  disposers.push(() => plain.dispose());
  const { cache, sink } = await open(await connectTo(plain.url), 'resp_nojs');
  t.equal(cache.enabled, true);
  for (let i = 0; i < 5; i++) {
    t.equal(await cache.get('k'), undefined);
    await cache.put('k', answer());
  }
  t.equal(sink.warnings().length, 1, 'warned once');
  t.match(sink.warnings()[0], { reason: 'open_failed', err: { message: /jetstream is not enabled/ } });
});

t.test('a JetStream that comes up after the worker is used once it is there', async (t) => {
  const binary = findNatsServer()!;
  const storeDir = join(dir, 'late');
  const before = await startNatsServer({ binary, configFile: noJetStreamConf, port: -1, storeDir });
  const { cache, sink } = await open(await connectTo(before.url), 'resp_late');
  await before.stop();
  const after = await startNatsServer({ binary, port: before.port, storeDir });
  disposers.push(() => after.stop());
  // The reopen is rate-limited (every 5 s), so this takes a few seconds.
  const hit = await eventually(
    async () => {
      await cache.put('k', answer());
      return (await cache.get('k')) !== undefined;
    },
    15_000,
    250,
  );
  t.ok(hit, 'the cache works once JetStream is up');
  t.match(
    sink.lines.map((l) => l['msg']),
    [
      /^cannot open the response cache bucket \(.*\); answers are not cached until it opens \(retrying every 5 s\)$/,
      'response cache bucket is available again',
    ],
  );
});

t.test('garbage in the bucket is a miss', async (t) => {
  const nc = await connectTo(nats.url);
  const { cache, sink } = await open(nc, 'resp_garbage');
  const raw = await nc.kvm().open('resp_garbage');
  const bad = {
    notJson: 'not json {',
    wrongShape: JSON.stringify({ content: 42 }),
    badFinish: JSON.stringify(answer({ finish_reason: 'tired' as 'stop' })),
    badToolCall: JSON.stringify(
      answer({ tool_calls: [{ id: 'c', type: 'function', function: { name: 'f' } } as never] }),
    ),
    array: '[]',
  };
  for (const [key, value] of Object.entries(bad)) await raw.put(key, value);
  for (const key of Object.keys(bad)) t.equal(await cache.get(key), undefined, key);
  t.equal(sink.warnings('bad_value').length, 1, 'warned once for all of them');
  await raw.delete('deleted');
  t.equal(await cache.get('deleted'), undefined, 'a delete marker is a miss');
});

t.test('an answer larger than max_payload is not stored, and put still resolves', async (t) => {
  const { cache, sink } = await open(await connectTo(nats.url), 'resp_large');
  await cache.put('big', answer({ content: 'x'.repeat(2 * 1024 * 1024) }));
  t.equal(await cache.get('big'), undefined);
  t.equal(sink.warnings('too_large').length, 1);
  await cache.put('small', answer());
  t.ok(await cache.get('small'), 'the cache still works');
});

t.test('a closed connection: miss, no throw', async (t) => {
  const nc = await connectTo(nats.url);
  const { cache, sink } = await open(nc, 'resp_closed');
  await cache.put('k', answer());
  t.ok(await cache.get('k'));
  await nc.close();
  t.equal(await cache.get('k'), undefined);
  await cache.put('k', answer());
  t.equal(sink.warnings('connection_closed').length, 1);
  const late = await open(nc, 'resp_closed');
  t.equal(await late.cache.get('k'), undefined, 'opening on a closed connection resolves too');
});

t.test('a server that stops answering costs at most opTimeoutMs', async (t) => {
  const hung = await startTestNats();
  disposers.push(() => hung.dispose());
  const { cache, sink } = await open(await connectTo(hung.url), 'resp_hung', { opTimeoutMs: 200 });
  await cache.put('k', answer());
  t.ok(await cache.get('k'));
  hung.process.kill('SIGSTOP');
  try {
    t.ok(await eventually(async () => isStopped(hung.process.pid!), 5000, 10), 'the server is stopped');
    // Each returns while the server is still stopped, with a *_timeout warning. Its one other way
    // to end, the KV client's own 2 s request timeout, warns the same: nothing but time tells them
    // apart, so the bound is half of that (5 × opTimeoutMs), not a speed target.
    let started = Date.now();
    t.equal(await cache.get('k'), undefined);
    t.ok(Date.now() - started < 1000, `get gave up at opTimeoutMs (${Date.now() - started} ms), not the client's 2 s`);
    t.equal(sink.warnings('get_timeout').length, 1, 'a miss, with a warning');
    started = Date.now();
    await cache.put('k2', answer());
    t.ok(Date.now() - started < 1000, `put gave up at opTimeoutMs (${Date.now() - started} ms), not the client's 2 s`);
    t.equal(sink.warnings('put_timeout').length, 1, 'with a warning');
  } finally {
    hung.process.kill('SIGCONT');
  }
  t.ok(await eventually(async () => (await cache.get('k')) !== undefined, 5000), 'hits again once the server answers');
});
