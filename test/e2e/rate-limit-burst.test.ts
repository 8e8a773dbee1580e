import t from 'tap';
import { startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// The penetration test's burst, lean: one `standard` key (shipped tiers: 10 per minute, 2 in
// flight, 8 MiB of bodies per minute) sends 40 chat requests of ~760 KB at once (four messages
// of 190,000 characters). The model holds its answers, so the two admitted ones stay in flight
// while the rest arrive: exactly the tier's allowance is admitted, every other request gets 429
// at once (refused before its body is parsed), the worker stays up and /ready stays ready.
const BURST = 40;
const stack = await startStack({
  env: { API_KEYS: 'burst-json,burst-sse,bystander', API_KEYS_TIER: 'standard' },
});
t.teardown(() => stack.close());

const big = (i: number) =>
  JSON.stringify({
    model: 'code_review',
    messages: Array.from({ length: 4 }, (_, m) => ({
      role: m % 2 === 0 ? 'user' : 'assistant',
      content: `${i}.${m} ${'x'.repeat(190_000)}`,
    })),
  });

interface Outcome {
  status: number;
  code: string | undefined;
  retryAfter: string | null;
}

/** Sends the burst; resolves once all but `held` requests were answered (the model holds the rest). */
async function burst(key: string, stream: boolean, held: number) {
  const answered: Outcome[] = [];
  const all = Array.from({ length: BURST }, async (_, i) => {
    const body = JSON.stringify({ ...JSON.parse(big(i)), stream });
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    const code = res.status === 200 ? undefined : (JSON.parse(text) as { error: { code: string } }).error.code;
    answered.push({ status: res.status, code, retryAfter: res.headers.get('retry-after') });
  });
  await waitFor(`${BURST - held} refusals while ${held} are held`, () => answered.length >= BURST - held, 60_000);
  return { answered, all };
}

const unavailableLines = () => stack.logs.lines.filter((line) => line['reason'] === 'store_unavailable').length;
const readyBody = async () => {
  const res = await fetch(`${stack.baseUrl}/ready`);
  return { status: res.status, body: (await res.json()) as { status: string; workers: number } };
};

for (const stream of [false, true]) {
  t.test(`${BURST} parallel ~760 KB ${stream ? 'streamed' : 'JSON'} requests of one standard key`, async (t) => {
    const started = Date.now();
    const modelCallsBefore = stack.ollama.requests.length;
    const rowsBefore = (await stack.db.selectFrom('turns').select('id').execute()).length;
    const release = stack.ollama.hold();
    const { answered, all } = await burst(stream ? 'burst-sse' : 'burst-json', stream, 2);
    const refusedWhileHeld = answered.length;
    t.equal(refusedWhileHeld, BURST - 2, 'all but the two in flight answered at once');
    t.ok(
      answered.every((o) => o.status === 429 && o.code === 'too_many_concurrent_requests' && o.retryAfter === '1'),
      `each a 429 with Retry-After: ${JSON.stringify(answered.filter((o) => o.status !== 429).slice(0, 3))}`,
    );
    const modelCalls = () => stack.ollama.requests.length - modelCallsBefore;
    await waitFor('the two admitted requests at the model', () => modelCalls() >= 2, 30_000);
    t.match(await readyBody(), { status: 200, body: { status: 'ready', workers: 1 } }, 'ready during the burst');
    release();
    await Promise.all(all);
    t.equal(modelCalls(), 2, 'two model calls in all: the concurrency cap');
    t.same(
      answered.map((o) => o.status).filter((s) => s === 200),
      [200, 200],
      'the two admitted ones complete',
    );
    t.ok(Date.now() - started < 60_000, `bounded in time: ${Date.now() - started} ms`);
    const rows = (await stack.db.selectFrom('turns').select('id').execute()).length;
    t.equal(rows - rowsBefore, 2, 'two turns stored, no more');
  });
}

t.test('afterwards: the worker is up, /ready is ready, the store was never called down', async (t) => {
  t.equal(unavailableLines(), 0, 'no "rate limit store unavailable"');
  t.match(await readyBody(), { status: 200, body: { status: 'ready', workers: 1 } });
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer bystander', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'code_review', messages: [{ role: 'user', content: 'still there?' }] }),
  });
  t.equal(res.status, 200, "another key's request is served");
  t.equal(res.headers.get('x-ratelimit-remaining-requests'), '9');
  await res.json();
  // The burst key spent two tokens and 1.5 MB of its 8 MiB a minute; its next small request fits.
  const next = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer burst-json', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'code_review', messages: [{ role: 'user', content: 'and me?' }] }),
  });
  t.equal(next.status, 200);
  // 10 − 2 admitted − this one = 7; a token comes back every 6 s, and a slow machine takes that long
  // for the bursts. Had the 38 refusals spent tokens, none would be left.
  const remaining = Number(next.headers.get('x-ratelimit-remaining-requests'));
  t.ok(remaining >= 7 && remaining <= 9, `the refusals spent no token (${remaining} left)`);
  await next.json();
});
