import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { AgentbusError, PROTOCOL_VERSION, type ChatRequest } from '../../bus-schemas/index.js';
import { callAgent } from '../../gateway/bus/agent-call.js';
import { startTestNats } from '../helpers/nats.js';

// Which publish failures may be retried: only the bus's own (bus_unavailable, 503); a bug of
// ours while encoding is internal_error (500, not retried), so it is not hidden by retries.
const nats = await startTestNats();
t.teardown(() => nats.dispose());

const options = {
  subject: 'agents.testing.chat',
  cancelSubject: 'agents.cancel',
  idleTimeoutMs: 5000,
  deadlineGraceMs: 1000,
};
const envelope = (extra: Record<string, unknown> = {}): ChatRequest =>
  ({
    v: PROTOCOL_VERSION,
    request_id: 'chatcmpl-agent-call-errors',
    intent: 'testing',
    model: 'testing',
    messages: [{ role: 'user', content: 'hi' }],
    stream: false,
    timeout_ms: 5000,
    tenant: 't',
    ...extra,
  }) as unknown as ChatRequest;

async function firstError(iterable: AsyncIterable<unknown>): Promise<AgentbusError> {
  try {
    for await (const frame of iterable) void frame;
  } catch (err) {
    return err as AgentbusError;
  }
  throw new Error('the call ended without an error');
}

t.test('an exception while encoding is internal_error, not retryable, with its cause', async (t) => {
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const seen: string[] = [];
  const sub = nc.subscribe(options.subject, {
    callback: (_err, msg) => {
      seen.push(msg.subject);
    },
  });
  // JSON.stringify cannot encode a BigInt: it throws a TypeError, as a stack overflow would a RangeError.
  const error = await firstError(callAgent(nc, envelope({ oops: 1n }), options));
  t.ok(error instanceof AgentbusError);
  t.equal(error.code, 'internal_error');
  t.equal(error.status, 500);
  t.equal(error.retryable, false);
  t.ok(error.cause instanceof TypeError, 'the original exception is kept for the log');
  await nc.flush();
  sub.unsubscribe();
  t.same(seen, [], 'nothing was published');
});

t.test('a closed connection is still bus_unavailable (503, retryable)', async (t) => {
  const nc = await connect({ servers: nats.url });
  await nc.close();
  const error = await firstError(callAgent(nc, envelope(), options));
  t.equal(error.code, 'bus_unavailable');
  t.equal(error.status, 503);
  t.equal(error.retryable, true);
});
