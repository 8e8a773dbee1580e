import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openAiDuration, rateLimitHeaders } from '../../gateway/rate-limit/rate-limit-headers.js';
import { loadRateTiers, rateTiersFrom } from '../../gateway/rate-limit/rate-tiers.js';
import {
  decide,
  decideCharge,
  parseTenantState,
  refundAdmission,
  releaseLease,
  renewLeases,
} from '../../gateway/rate-limit/tenant-state.js';
import { batchPerTenant } from '../../gateway/rate-limit/tenant-batches.js';
import {
  StoreNotReopenedError,
  StoreUnavailableError,
  type TenantStore,
} from '../../gateway/rate-limit/tenant-store.js';
import { takeToken, type Buckets } from '../../gateway/rate-limit/token-buckets.js';
import { keyOf } from '../../gateway/rate-limit/tenant-store.js';

// Pure functions with the clock passed in: refill is tested by moving `now`, never by sleeping.
const tiers = rateTiersFrom({
  tiers: {
    small: { requests_per_minute: 3, requests_per_hour: 5, concurrent_streams: 2 },
    big: { requests_per_minute: 60, requests_per_day: 100 },
    unlimited: {},
  },
});
const small = tiers.resolve('small');
const T0 = Date.UTC(2025, 0, 1);

t.test('a bucket allows its limit, then refuses until it refills at limit per window', async (t) => {
  let buckets: Buckets = {};
  for (let i = 0; i < 3; i++) {
    const result = takeToken(buckets, small.windows, T0);
    t.ok(result.allowed, `request ${i + 1} of 3`);
    if (result.allowed) buckets = result.buckets;
  }
  const refused = takeToken(buckets, small.windows, T0 + 1000);
  t.notOk(refused.allowed, 'the 4th within the minute is refused');
  if (!refused.allowed) {
    t.equal(refused.blocking.window, 'minute');
    t.equal(refused.blocking.limit, 3);
    // 3 per minute: one token every 20 s; 1 s has passed.
    t.equal(refused.retryAfterMs, 19_000);
  }
  t.notOk(takeToken(buckets, small.windows, T0 + 19_999).allowed, 'still empty just before one token is back');
  t.ok(takeToken(buckets, small.windows, T0 + 20_000).allowed, 'one token back after 20 s');
});

t.test('all-or-nothing: a refused window spends no token of the others', async (t) => {
  // The hour (5) runs out before the minute does once the minute has refilled.
  let buckets: Buckets = {};
  let now = T0;
  let allowed = 0;
  for (let i = 0; i < 10; i++, now += 30_000) {
    const result = takeToken(buckets, small.windows, now);
    if (result.allowed) {
      allowed++;
      buckets = result.buckets;
    } else {
      t.equal(result.blocking.window, 'hour', 'the hour blocks');
      t.same(takeToken(buckets, small.windows, now), result, 'refusing changed nothing: the same answer again');
    }
  }
  t.equal(allowed, 5, 'five in the hour');
  const refused = takeToken(buckets, small.windows, now);
  t.notOk(refused.allowed);
  if (!refused.allowed) t.ok(refused.retryAfterMs > 60_000, "the wait is the hour's, the longest");
});

t.test(
  'a bucket stamped in the future (a replica with a fast clock) refills nothing rather than going negative',
  async (t) => {
    const result = takeToken({ minute: { tokens: 0.5, at: T0 + 5000 } }, small.windows, T0);
    t.notOk(result.allowed);
    const later = takeToken({ minute: { tokens: 1, at: T0 + 5000 } }, small.windows, T0);
    t.ok(later.allowed);
    if (later.allowed) t.equal(later.buckets.minute?.at, T0 + 5000, 'the stamp never moves back');
  },
);

t.test('a fan-out: further model calls take that many tokens from every window, or none', async (t) => {
  const admitted = decide(parseTenantState(undefined), small, T0, { id: 'r1', until: T0 + 60_000 });
  if (admitted.kind !== 'admit') return t.fail('admitted');
  const charged = decideCharge(admitted.next, small, T0, 2);
  t.match(charged, { kind: 'admit', tightest: { window: 'minute', remaining: 0 } }, '3 of 3 in the minute');
  if (charged.kind !== 'admit') return;
  t.same(charged.next.leases, { r1: T0 + 60_000 }, 'the lease is untouched');
  const more = decideCharge(admitted.next, small, T0, 3);
  t.match(more, { kind: 'rate', blocking: { window: 'minute' }, retryAfterMs: 20_000 }, '1 + 3 > 3: refused');
  const refunded = refundAdmission(admitted.next, small, T0);
  t.same(refunded.buckets, { minute: { tokens: 3, at: T0 }, hour: { tokens: 5, at: T0 } }, 'refused: given back');
  t.same(refunded.leases, admitted.next.leases);
  const hour = takeToken({ hour: { tokens: 1.5, at: T0 } }, small.windows, T0, 2);
  t.notOk(hour.allowed, 'the hour lacks the second token: nothing is taken from the minute either');
});

t.test('the tightest window is the one with the fewest requests left', async (t) => {
  const result = takeToken({}, tiers.resolve('big').windows, T0);
  t.ok(result.allowed);
  if (!result.allowed) return;
  t.match(result.tightest, { window: 'minute', limit: 60, remaining: 59 });
  const headers = rateLimitHeaders(tiers.resolve('big'), result.tightest);
  t.same(headers, {
    'x-ratelimit-limit-requests': '60',
    'x-ratelimit-remaining-requests': '59',
    'x-ratelimit-reset-requests': '1s',
    'ratelimit-limit': '60',
    'ratelimit-remaining': '59',
    'ratelimit-reset': '1',
    'ratelimit-policy': '60;w=60, 100;w=86400',
  });
  t.same(rateLimitHeaders(tiers.resolve('unlimited'), undefined), {}, 'no headers without request limits');
});

t.test('OpenAI-style durations', async (t) => {
  t.equal(openAiDuration(250), '250ms');
  t.equal(openAiDuration(12_000), '12s');
  t.equal(openAiDuration(12_001), '13s');
  t.equal(openAiDuration(360_000), '6m0s');
  t.equal(openAiDuration(3_723_000), '1h2m3s');
});

t.test('concurrency leases: capped, pruned when they lapse, released by id', async (t) => {
  let state = parseTenantState(undefined);
  for (const id of ['a', 'b']) {
    const d = decide(state, small, T0, { id, until: T0 + 10_000 });
    t.equal(d.kind, 'admit', `${id} admitted`);
    if (d.kind === 'admit') state = d.next;
  }
  const third = decide(state, small, T0, { id: 'c', until: T0 + 10_000 });
  t.match(
    third,
    { kind: 'concurrency', inFlight: 2, cap: 2 },
    'the minute has a token left, but two are in flight: the third waits',
  );
  const lapsed = decide(state, small, T0 + 10_000, { id: 'c', until: T0 + 20_000 });
  t.equal(lapsed.kind, 'admit', 'leases past their deadline (a crashed gateway) no longer count');
  if (lapsed.kind === 'admit') t.same(Object.keys(lapsed.next.leases), ['c']);
  const released = releaseLease(state, 'a', T0 + 1);
  t.same(Object.keys(released!.leases), ['b']);
  t.equal(releaseLease(state, 'zzz', T0), undefined, 'releasing an unknown lease writes nothing');
  t.same(decide(state, tiers.resolve('big'), T0, { id: 'x', until: T0 + 1 }).kind, 'admit', 'no cap, no lease needed');
});

t.test('renewing leases: extended, put back when missing, never shortened; lapsed others dropped', async (t) => {
  const state = { buckets: { minute: { tokens: 2, at: T0 } }, leases: { a: T0 + 5_000, b: T0 + 50_000, old: T0 - 1 } };
  const next = renewLeases(
    state,
    [
      { id: 'a', until: T0 + 15_000 },
      { id: 'b', until: T0 + 15_000 },
      { id: 'gone', until: T0 + 15_000 },
    ],
    T0,
  );
  t.same(next.leases, { a: T0 + 15_000, b: T0 + 50_000, gone: T0 + 15_000 });
  t.same(next.buckets, state.buckets, 'the buckets are untouched');
});

t.test("batched updates: one tenant's concurrent updates go as one read and one write, in order", async (t) => {
  // An in-memory stand-in for the KV store, counting calls: the batching logic alone, no NATS.
  const values = new Map<string, string>();
  let calls = 0;
  const inner: TenantStore = {
    open: async () => undefined,
    async update(tenant, change) {
      calls++;
      await new Promise((resolve) => setImmediate(resolve));
      const { write, result } = change(values.get(tenant));
      if (write !== undefined) values.set(tenant, write);
      return result;
    },
  };
  const store = batchPerTenant(inner);
  const append = (tenant: string, item: string) =>
    store.update(tenant, (current) => {
      const list = [...JSON.parse(current ?? '[]'), item];
      return { write: JSON.stringify(list), result: list.length };
    });
  const first = append('x', 'first');
  const rest = ['a', 'b', 'c'].map((item) => append('x', item));
  const broken = store.update('x', () => {
    throw new Error('a bug in one change');
  });
  const other = append('y', 'other');
  t.same(await Promise.all([first, ...rest]), [1, 2, 3, 4], 'each saw the ones before it');
  await t.rejects(broken, /a bug in one change/, 'a throwing change fails alone');
  t.equal(await other, 1, 'another tenant is not held up');
  t.same(JSON.parse(values.get('x')!), ['first', 'a', 'b', 'c']);
  t.equal(calls, 3, 'x: the first alone, then the three waiting ones together; y: one');
});

t.test(
  'batched updates during an outage: admissions fail at once, a release batched with them still waits for the open',
  async (t) => {
    // A stand-in with the real store's gate: after a failure, gated updates are turned away at
    // once (StoreNotReopenedError) and ungated ones open the bucket, here an open the test holds.
    const deferred = () => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      return { promise, resolve };
    };
    const outage = deferred();
    const open = deferred();
    const opening = deferred();
    let gateClosed = false;
    let value: string | undefined;
    const seen: Array<{ ungated: boolean; size: number }> = [];
    const inner: TenantStore = {
      open: async () => undefined,
      async update(_tenant, change, options = {}) {
        if (seen.length === 0) {
          seen.push({ ungated: false, size: 1 });
          await outage.promise;
          gateClosed = true;
          throw new StoreUnavailableError('rate limit store: get took longer than 500 ms');
        }
        if (gateClosed && !options.ungated)
          throw new StoreNotReopenedError('rate limit store: the bucket failed moments ago; not reopened yet');
        const { write, result } = change(value);
        seen.push({ ungated: options.ungated === true, size: (result as unknown[]).length });
        opening.resolve();
        await open.promise;
        value = write;
        return result;
      },
    };
    const store = batchPerTenant(inner);
    const settled: string[] = [];
    // Settled into values at once, so no rejection waits unhandled while the test holds the open.
    const track = (name: string, p: Promise<unknown>) =>
      p.then(
        (value) => {
          settled.push(name);
          return value;
        },
        (err: unknown) => {
          settled.push(name);
          return err;
        },
      );
    const admission = (name: string) =>
      track(
        name,
        store.update('x', (current) => ({ write: `${current ?? ''}${name}`, result: name })),
      );
    const first = admission('first');
    // While the first runs, an admission, a release and another admission queue up as one batch.
    const a = admission('a');
    const release = track(
      'release',
      store.update('x', (current) => ({ write: `${current ?? ''}-released`, result: 'released' }), { ungated: true }),
    );
    const b = admission('b');
    outage.resolve();
    await opening.promise;
    await new Promise((resolve) => setImmediate(resolve));
    t.same(settled, ['first', 'a', 'b'], "both admissions failed (open) before the release's open finished");
    t.same(seen.at(-1), { ungated: true, size: 1 }, 'the release went again alone, ungated');
    open.resolve();
    t.type(await first, StoreUnavailableError);
    t.type(await a, StoreNotReopenedError, 'the admission is turned away (and so fails open)');
    t.type(await b, StoreNotReopenedError);
    t.equal(await release, 'released');
    t.equal(value, '-released', 'only the release was written');
  },
);

t.test('a stored entry that is not ours reads as empty state, never as an error', async (t) => {
  for (const text of ['not json', '[]', '{"buckets":{"minute":{"tokens":"x","at":1}},"leases":{"a":"soon"}}', 'null']) {
    t.same(parseTenantState(text), { buckets: {}, leases: {} }, text);
  }
});

t.test('tiers: unknown names are limited as the strictest tier, the file is checked at load', async (t) => {
  t.equal(tiers.resolve('nope').name, 'strictest');
  t.same(
    tiers.strictest.windows.map((w) => [w.window, w.limit]),
    [
      ['minute', 3],
      ['hour', 5],
      ['day', 100],
    ],
  );
  t.equal(tiers.strictest.concurrentStreams, 2);
  t.same(loadRateTiers().names, ['standard', 'premium', 'unlimited'], 'the shipped file loads');
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-tiers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'tiers.json');
  writeFileSync(file, JSON.stringify({ tiers: { standard: { requests_per_minute: 0 } } }));
  t.throws(() => loadRateTiers(file), /invalid rate tiers .*tiers\.json \(RATE_TIERS_FILE\).*requests_per_minute/);
  writeFileSync(file, JSON.stringify({ tiers: { Bad_Name: {} } }));
  t.throws(() => loadRateTiers(file), /RATE_TIERS_FILE/);
});

t.test('KV keys: tenant ids as they are when key-safe, hashed otherwise', async (t) => {
  t.equal(keyOf('key_0123abcd'), 't.key_0123abcd');
  t.match(keyOf('a b/c.d'), /^h\.[0-9a-f]{64}$/);
});
