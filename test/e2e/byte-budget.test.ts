import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { exchangeExpectingContinue } from '../helpers/raw-http.js';
import { startStack } from '../helpers/stack.js';
import { openLiveClient } from '../helpers/ws-client.js';

// max_input_bytes counts the body as parsed: a compressed or chunked body, whose size is unknown
// until it is read, is charged what it declared (its compressed length, or nothing), then the rest
// once read. Neither a small compressed body is refused as if it were BODY_LIMIT_BYTES, nor can
// compression carry more than the tier allows.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-bytes-'));
const tiersFile = join(dir, 'rate-tiers.json');
writeFileSync(
  tiersFile,
  JSON.stringify({ tiers: { standard: { requests_per_minute: 100, max_input_bytes: 4000 }, unlimited: {} } }),
);
const stack = await startStack({
  env: {
    API_KEYS: 'key-one,key-two,key-three,key-four,key-five,key-six,key-seven',
    API_KEYS_TIER: 'standard',
    RATE_TIERS_FILE: tiersFile,
  },
});
t.teardown(async () => {
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});

const body = (content: string) =>
  JSON.stringify({ model: 'code_review', messages: [{ role: 'user', content }], max_tokens: 4 });
const send = (key: string, payload: Buffer | string | ReadableStream, encoding?: string) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      ...(encoding ? { 'content-encoding': encoding } : {}),
    },
    body: payload,
    // A stream body goes chunked, without Content-Length.
    ...(payload instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
const chunked = (text: string) =>
  new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  });

t.test('a small compressed or chunked body is charged its size, not BODY_LIMIT_BYTES', async (t) => {
  const gz = await send('key-one', gzipSync(body('hello')), 'gzip');
  t.equal(gz.status, 200, 'a 4,000-byte budget takes a gzipped chat');
  await gz.json();
  const ch = await send('key-one', chunked(body('hello again')));
  t.equal(ch.status, 200, 'and a chunked one');
  await ch.json();
});

t.test('compression carries no more than the budget: the decoded size is what counts', async (t) => {
  // ~1,600 bytes of JSON each, a few dozen compressed: the third is over 4,000 a minute.
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await send('key-two', gzipSync(body(`${i} ${'x'.repeat(1500)}`)), 'gzip');
    statuses.push(res.status);
    const answer = await res.json();
    if (res.status !== 429) continue;
    t.match(answer, { error: { code: 'rate_limit_exceeded' } });
    const size = Number(/this body has (\d+)/.exec(answer.error.message)?.[1]);
    t.ok(size > 1500 && size < 1700, `charged its decoded size (${size} bytes), not its compressed one`);
  }
  t.same(statuses, [200, 200, 429]);
});

t.test('a compressed body larger than the whole budget is 413 naming its decoded size', async (t) => {
  const res = await send('key-three', gzipSync(body('y'.repeat(5000))), 'gzip');
  t.equal(res.status, 413);
  t.match(await res.json(), {
    error: { code: 'request_too_large', message: /The body has 50\d\d bytes; key "[^"]+" may send 4000 bytes/ },
  });
  // Refused before anything was published: its request token came back.
  const next = await send('key-three', body('small'));
  t.equal(next.status, 200);
  await next.json();
});

t.test('bodies their checks refuse spend their bytes too, read chunked or compressed', async (t) => {
  // ~1,600 bytes each once decoded: the third of each kind is over 4,000 a minute and refused unread.
  const refusedByTheirChecks = [
    (i: number) => chunked(`{"model":"code_review","messages":"${i} ${'x'.repeat(1600)}"}`), // a schema 400
    (i: number) => chunked(`{"model": ${i} ${'x'.repeat(1600)}`), // invalid JSON
  ];
  for (const [key, make] of [
    ['key-four', refusedByTheirChecks[0]!],
    ['key-five', refusedByTheirChecks[1]!],
  ] as const) {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await send(key, make(i));
      statuses.push(res.status);
      const answer = await res.json();
      if (res.status === 429) {
        t.match(answer, { error: { code: 'rate_limit_exceeded', message: /bytes/ } });
        t.ok(res.headers.get('retry-after'), 'says when to come back');
      }
    }
    t.same(statuses, [400, 400, 429], key);
  }
  const gz = await send('key-four', gzipSync(body('z'.repeat(1500))), 'gzip');
  t.equal(gz.status, 429, 'a compressed body over what is left is refused once decoded');
  await gz.json();
});

t.test('WebSocket frames spend their bytes as they arrive, those their checks refuse too', async (t) => {
  const client = await openLiveClient(stack.baseUrl, { headerKey: 'key-six' });
  t.teardown(() => client.close());
  await client.next((frame) => frame.type === 'ready');
  // ~1,600 bytes each, refused by the frame schema (messages must be an array): the third is over 4,000.
  for (const id of ['w1', 'w2', 'w3'])
    client.send({ type: 'chat', id, agent: 'code_review', messages: 'x'.repeat(1600) });
  const codes: string[] = [];
  for (const id of ['w1', 'w2', 'w3']) {
    const { terminal } = await client.finish(id);
    if (terminal.type === 'error') codes.push(terminal.error.code ?? '');
    if (id === 'w3') t.match(terminal, { seq: 0, retry_after: Number, error: { message: /this body has 16\d\d/ } });
  }
  t.same(codes, ['invalid_request', 'invalid_request', 'rate_limit_exceeded']);
  client.send({ type: 'chat', id: 'w4', agent: 'code_review', messages: [{ role: 'user', content: 'y'.repeat(800) }] });
  t.match((await client.finish('w4')).terminal, { type: 'error', error: { code: 'rate_limit_exceeded' } });
  t.same(client.invalidFrames, []);
});

// A chat POST with `Expect: 100-continue`, as curl sends one over 1 MiB: the body only after a 100.
const withExpectContinue = (
  key: string,
  payload: string,
  declaredLength = Buffer.byteLength(payload),
  expect = '100-continue',
) =>
  exchangeExpectingContinue(
    stack.baseUrl,
    `POST /v1/chat/completions HTTP/1.1\r\nHost: ${new URL(stack.baseUrl).host}\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${declaredLength}\r\nExpect: ${expect}\r\n` +
      'Connection: close\r\n\r\n',
    payload,
  );

t.test('Expect: 100-continue is answered only once the request is admitted', async (t) => {
  const admitted = await withExpectContinue('key-seven', body('hello'));
  t.ok(admitted.bodySent, '100 Continue, then the body');
  t.match(admitted.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  // Node hands over any Expect naming 100-continue among other tokens, in any case: each gets its 100.
  const listed = await withExpectContinue('key-seven', body('hello'), undefined, '100-Continue, x-other');
  t.ok(listed.bodySent, 'an Expect listing 100-continue: 100, then the body');

  const unknownKey = await withExpectContinue('key-nope', body('hello'));
  t.notOk(unknownKey.bodySent, 'an unknown key: no 100, the body never sent');
  t.match(unknownKey.text, /^HTTP\/1\.1 401 /);

  const overBudget = await withExpectContinue('key-seven', body('x'.repeat(5000)));
  t.notOk(overBudget.bodySent, "over the key's byte budget: refused before the body");
  t.match(overBudget.text, /^HTTP\/1\.1 413 [^]*"code":"request_too_large"/);

  const overLimit = await withExpectContinue('key-one', '{}', 2 ** 40);
  t.notOk(overLimit.bodySent, 'longer than BODY_LIMIT_BYTES: refused before the body');
  t.match(overLimit.text, /^HTTP\/1\.1 413 /);
});
