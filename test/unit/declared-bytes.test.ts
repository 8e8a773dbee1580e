import type { FastifyRequest } from 'fastify';
import t from 'tap';
import { declaredBytes } from '../../gateway/http/admit-before-body.js';
import { decideBytes } from '../../gateway/rate-limit/tenant-state.js';
import type { RateTier } from '../../gateway/rate-limit/rate-tiers.js';

// What a body is charged against max_input_bytes before it is read, and the rest once it is
// (docs/security.md).
const request = (headers: Record<string, string>) => ({ headers }) as unknown as FastifyRequest;
const LIMIT = 1_048_576;

t.test('a plain body is charged its Content-Length (at most BODY_LIMIT_BYTES), known up front', async (t) => {
  t.same(declaredBytes(request({ 'content-length': '1200' }), LIMIT), { bytes: 1200, known: true });
  t.same(declaredBytes(request({ 'content-length': '9999999' }), LIMIT), { bytes: LIMIT, known: true });
  t.same(declaredBytes(request({ 'content-length': '1200', 'content-encoding': 'identity' }), LIMIT), {
    bytes: 1200,
    known: true,
  });
});

t.test('a compressed or chunked body: what it declares now, the rest once read', async (t) => {
  // One byte: a spent budget refuses it before it is read.
  t.same(declaredBytes(request({ 'transfer-encoding': 'chunked' }), LIMIT), { bytes: 1, known: false });
  t.same(declaredBytes(request({ 'content-length': '120', 'content-encoding': 'gzip' }), LIMIT), {
    bytes: 120,
    known: false,
  });
});

t.test('the rest of a body once read: taken from the byte bucket, or refused', async (t) => {
  const tier = { inputBytes: { limit: 4000, periodMs: 60_000 } } as unknown as RateTier;
  const empty = { buckets: {}, leases: {} };
  const taken = decideBytes(empty, tier, 0, 1500, 1620);
  t.match(taken, { kind: 'admit', next: { bytes: { tokens: 2500 } } });
  t.match(decideBytes(empty, tier, 0, 4880, 5000), {
    kind: 'bytes',
    bytes: 5000,
    limit: 4000,
    retryAfterMs: undefined,
  });
  if (taken.kind !== 'admit') return;
  t.match(decideBytes(taken.next, tier, 0, 3000, 3100), { kind: 'bytes', bytes: 3100, retryAfterMs: 7500 });
});
