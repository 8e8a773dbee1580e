import t from 'tap';
import type { AgentbusError } from '../../bus-schemas/index.js';
import { withLiveTimeout } from '../../common/live-timeout.js';
import type { Clock } from '../../common/clock.js';
import { createRateLimiter, refusalOf, type Admission } from '../../gateway/rate-limit/rate-limiter.js';
import { rateTiersFrom } from '../../gateway/rate-limit/rate-tiers.js';
import { parseTenantState } from '../../gateway/rate-limit/tenant-state.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { recordingLogger } from '../helpers/fake-provider.js';
import { MemoryTenantStore } from '../helpers/memory-tenant-store.js';

// The limiter's decisions against an in-memory store and a fake bus, and the KV timeout against
// a fake clock: a stall is a clock that reads late when a timer fires, never a real wait.
const KB = 1024;
const tiers = rateTiersFrom({
  tiers: {
    standard: { requests_per_minute: 10, concurrent_streams: 2, max_input_bytes: 2000 * KB },
    bytes_only: { max_input_bytes: 1000 * KB },
    unlimited: {},
  },
});

function setup(storeDown: 'open' | 'closed' = 'closed') {
  const store = new MemoryTenantStore();
  const bus = new FakeBus();
  const { log, lines } = recordingLogger();
  const limiter = createRateLimiter({ bus, tiers, bucket: 'rl_unit', opTimeoutMs: 500, log, store, storeDown });
  let id = 0;
  const admit = (tier = 'standard', inputBytes = 0) =>
    limiter.admit({
      tenant: 't1',
      keyName: 'k1',
      tier,
      requestId: `r${++id}`,
      leaseUntil: Date.now() + 600_000,
      inputBytes,
    });
  const state = () => parseTenantState(store.entries.get('t1'));
  const chargeBytes = (tier: string, bytes: number) =>
    limiter.chargeBytes({ tenant: 't1', keyName: 'k1', tier, bytes });
  return { store, bus, lines, admit, chargeBytes, state };
}

const codeOf = (err: unknown) => (err as AgentbusError).code;

t.test('a burst of 100 large bodies from one key: its allowance admitted, every other one 429', async (t) => {
  const { admit, state } = setup();
  const results = await Promise.allSettled(Array.from({ length: 100 }, () => admit('standard', 760 * KB)));
  const admitted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const codes = results.flatMap((r) => (r.status === 'rejected' ? [codeOf(r.reason)] : []));
  t.equal(admitted.length, 2, 'two: the concurrency cap (and 2000 KB fit only two bodies of 760 KB)');
  t.equal(codes.length, 98);
  t.ok(
    codes.every((code) => code === 'rate_limit_exceeded'),
    'the rest refused, by the byte budget (checked before the cap: its wait is the longer one)',
  );
  t.ok(
    results.every((r) => r.status === 'fulfilled' || (refusalOf(r.reason)?.retryAfterSeconds ?? 0) >= 1),
    'each refusal says when to retry',
  );
  t.equal(Object.keys(state().leases).length, 2);
  await Promise.all(admitted.map((a) => a.release()));
  t.same(state().leases, {}, 'released');
  // 2000 KB a minute: two bodies of 760 KB spent 1520, a third does not fit.
  await t.rejects(admit('standard', 760 * KB), { code: 'rate_limit_exceeded', message: /Input limit reached/ });
  t.equal(Math.floor(state().buckets.minute!.tokens), 8, 'the bytes refusals spent no request token');
  const small = [await admit('standard', 100 * KB), await admit('standard', 100 * KB)];
  t.ok(small[0]!.headers['x-ratelimit-limit-requests'], 'small bodies still fit');
  await t.rejects(admit('standard', 100 * KB), { code: 'too_many_concurrent_requests' });
  await Promise.all(small.map((a) => a.release()));
});

t.test('max_input_bytes: a body larger than the whole budget is 413, never worth retrying', async (t) => {
  const { admit } = setup();
  const err = await admit('bytes_only', 1001 * KB).catch((e: unknown) => e);
  t.equal(codeOf(err), 'request_too_large');
  t.notOk(refusalOf(err), 'no Retry-After');
  t.ok(await admit('bytes_only', 1000 * KB), 'exactly the budget fits');
  const over = await admit('bytes_only', 100 * KB).catch((e: unknown) => e);
  t.equal(codeOf(over), 'rate_limit_exceeded');
  t.ok((refusalOf(over)?.retryAfterSeconds ?? 0) >= 1);
});

t.test('chargeBytes takes bytes only (a WebSocket frame): refused as a body of that size is', async (t) => {
  const { admit, chargeBytes, state, store } = setup();
  await chargeBytes('standard', 1500 * KB);
  t.equal(state().buckets.minute, undefined, 'no request token taken');
  t.same(state().leases, {}, 'no lease');
  const over = await chargeBytes('standard', 600 * KB).catch((e: unknown) => e);
  t.match(over, { code: 'rate_limit_exceeded', message: /Input limit reached for key "k1".*this body has 614400/ });
  t.ok((refusalOf(over)?.retryAfterSeconds ?? 0) >= 1, 'with when to retry');
  await t.rejects(admit('standard', 600 * KB), { message: (over as Error).message }, 'what admit says of such a body');
  await t.rejects(chargeBytes('standard', 2001 * KB), { code: 'request_too_large' });
  const writes = store.writes;
  await chargeBytes('unlimited', 5000 * KB);
  t.equal(store.writes, writes, 'a tier without a byte budget is not even asked');
});

t.test('a refund gives the request token back (nothing was published); a plain release does not', async (t) => {
  const { admit, state } = setup();
  const first = await admit();
  const second = await admit();
  const tokens = () => Math.floor(state().buckets.minute!.tokens);
  t.equal(tokens(), 8);
  await first.release({ refund: true });
  await first.release({ refund: true });
  t.equal(tokens(), 9, 'once, however often it is called');
  await second.release();
  t.equal(tokens(), 9);
  t.same(state().leases, {});
});

t.test('store down: closed refuses limited keys with 503, open lets them through; unlimited never asks', async (t) => {
  const closed = setup('closed');
  closed.store.down = true;
  const err = await closed.admit().catch((e: unknown) => e);
  t.equal(codeOf(err), 'rate_limit_unavailable');
  t.equal((err as AgentbusError).status, 503);
  t.equal(refusalOf(err)?.headers['retry-after'], '1');
  t.ok(closed.lines.some((line) => line['reason'] === 'store_unavailable'));
  t.same((await closed.admit('unlimited')).headers, {}, 'an unlimited key is not affected');

  const open = setup('open');
  open.store.down = true;
  const through: Admission = await open.admit();
  t.same(through.headers, {}, 'open: through, unlimited');
  await through.release({ refund: true });
  open.store.down = false;
  t.equal(open.store.writes, 0, 'nothing was counted, so nothing is refunded');
});

t.test('NATS down: refused with bus_unavailable before anything else', async (t) => {
  const { bus, admit, store } = setup();
  bus.closed = true;
  bus.connected = false;
  await t.rejects(admit(), { code: 'bus_unavailable' });
  t.equal(store.writes, 0);
});

/** A fake clock whose reading jumps by `lag` whenever the test says the loop was busy. */
function stallingClock(fake: FakeClock) {
  let lag = 0;
  const clock: Clock = {
    now: () => fake.now() + lag,
    setTimeout: (callback, ms) => fake.setTimeout(callback, ms),
    setInterval: (callback, ms) => fake.setInterval(callback, ms),
    clearTimeout: (handle) => fake.clearTimeout(handle),
  };
  return { clock, stall: (ms: number) => (lag += ms) };
}

const track = <T>(pending: Promise<T>) => {
  const state: { value?: T; error?: unknown } = {};
  pending.then(
    (value) => (state.value = value),
    (error: unknown) => (state.error = error),
  );
  return state;
};

t.test('KV timeout: a live loop for the whole period is needed before the store counts as slow', async (t) => {
  const fake = new FakeClock();
  const { clock, stall } = stallingClock(fake);
  let answer: (value: string) => void = () => undefined;
  const reply = new Promise<string>((resolve) => (answer = resolve));
  const result = track(withLiveTimeout(reply, 500, () => 'timed out', clock));
  stall(2000); // the gateway was busy: the timer fires 2 s late
  await fake.advance(500);
  t.same(result, {}, 'a late timer starts another period instead of giving up');
  answer('counted');
  await settle();
  t.same(result, { value: 'counted' }, 'the reply read after the stall wins');
});

t.test('KV timeout: an on-time timer with no reply times out; a stall repeated forever ends too', async (t) => {
  const fake = new FakeClock();
  const { clock, stall } = stallingClock(fake);
  const slow = track(withLiveTimeout(new Promise<string>(() => undefined), 500, () => 'timed out', clock));
  await fake.advance(499);
  t.same(slow, {});
  await fake.advance(1);
  t.same(slow, { value: 'timed out' }, 'after 500 ms of a live loop');

  const stalled = track(withLiveTimeout(new Promise<string>(() => undefined), 500, () => 'timed out', clock));
  for (let i = 0; i < 5; i++) {
    stall(1000);
    await fake.advance(500);
    t.same(stalled, {}, `stall ${i + 1}: waits on`);
  }
  stall(1000);
  await fake.advance(500);
  t.same(stalled, { value: 'timed out' }, 'bounded: at most five extra periods');
  t.equal(fake.pending, 0, 'no timer left behind');
});

t.test('tiers: max_input_bytes is a per-minute bucket, and the strictest tier takes the lowest', async (t) => {
  t.same(tiers.resolve('standard').inputBytes, { window: 'minute', limit: 2000 * KB, periodMs: 60_000 });
  t.equal(tiers.resolve('unlimited').inputBytes, undefined);
  t.equal(tiers.resolve('no-such-tier').inputBytes?.limit, 1000 * KB, 'an unknown tier is the strictest');
});

t.test("a refusal restated in another API's terms still says when to come back", async (t) => {
  const { admit } = setup();
  const held = [await admit('standard', KB), await admit('standard', KB)];
  const refusal = await admit('standard', KB).catch((err: AgentbusError) => err);
  const restated = (refusal as AgentbusError).restated({ param: 'input' });
  t.ok(refusalOf(refusal), 'the limiter marks its own error');
  t.same(refusalOf(restated), refusalOf(refusal), 'and the error that names it as its cause');
  t.equal(refusalOf(new Error('other')), undefined);
  await Promise.all(held.map((a) => a.release()));
});

t.test('a fan-out of more calls than a window allows at all is 413, never a 429 to retry', async (t) => {
  const store = new MemoryTenantStore();
  const few = rateTiersFrom({ tiers: { one: { requests_per_minute: 1, requests_per_hour: 100 } } });
  const { log } = recordingLogger();
  const limiter = createRateLimiter({
    bus: new FakeBus(),
    tiers: few,
    bucket: 'rl_unit',
    opTimeoutMs: 500,
    log,
    store,
  });
  const admission = await limiter.admit({ tenant: 't1', keyName: 'k1', tier: 'one', leaseUntil: Date.now() + 60_000 });
  const err = await admission.charge(1).catch((e: unknown) => e);
  t.equal(codeOf(err), 'request_too_large', 'two calls, one a minute: no wait would admit it');
  t.match(
    (err as Error).message,
    /makes 2 model calls .* may make 1 per minute \(tier one\): it can never be admitted/,
  );
  t.notOk(refusalOf(err), 'no Retry-After');
  t.equal(parseTenantState(store.entries.get('t1')).buckets.minute?.tokens, 1, "the admission's token given back");
  await admission.release();
});
