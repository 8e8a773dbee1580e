import t from 'tap';
import { AgentbusError, errorFromWire } from '../../bus-schemas/index.js';
import { inFrameTerms } from '../../gateway/websocket/chat-frame-body.js';
import { errorFrame } from '../../gateway/websocket/server-frames.js';

// An open circuit breaker's cooldown travels as `retry_after_ms` in the worker's error frame and
// reaches the client as Retry-After (HTTP: test/e2e/provider-chain.test.ts) or `retry_after`.

const circuitOpen = new AgentbusError('no_provider_available', 'every circuit open', { retryAfterMs: 12_300 });

t.test('the bus error keeps retry_after_ms, and leaves it out when unknown', async (t) => {
  const wire = circuitOpen.toWire();
  t.equal(wire.retry_after_ms, 12_300);
  t.equal(errorFromWire(wire).retryAfterMs, 12_300);
  t.notOk('retry_after_ms' in new AgentbusError('backend_error').toWire());
  t.equal(errorFromWire(new AgentbusError('backend_error').toWire()).retryAfterMs, undefined);
});

t.test("a WebSocket error frame says it in whole seconds, as HTTP's Retry-After", async (t) => {
  const frame = { type: 'chat', id: 'c1', agent: 'code_review', messages: [] } as never;
  t.equal(errorFrame('c1', circuitOpen, 0).retry_after, 13);
  const named = new AgentbusError('no_provider_available', 'x', { param: 'X-Session-ID', retryAfterMs: 12_300 });
  const renamed = inFrameTerms(named, frame);
  t.equal(renamed.param, 'session_id');
  t.equal(errorFrame('c1', renamed, 0).retry_after, 13, 'kept when its param is renamed for the frame');
  t.equal(errorFrame('c1', circuitOpen, 0, 2).retry_after, 2, "the rate limiter's own wins");
  t.notOk('retry_after' in errorFrame('c1', new AgentbusError('backend_error'), 0));
  const refusedForGood = new AgentbusError('backend_auth_failed', 'key refused', { retryAfterMs: 7000 });
  t.notOk('retry_after' in errorFrame('c1', refusedForGood, 0), 'no wait on an error not worth retrying, as HTTP');
});
