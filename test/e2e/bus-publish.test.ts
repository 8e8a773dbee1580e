import { errors } from '@nats-io/transport-node';
import t from 'tap';
import type { Bus } from '../../common/bus.js';
import { withTimeout } from '../../common/timeout.js';
import { bytes, gatewayBusesOnTestNats, text } from '../helpers/gateway-buses.js';

// The Bus against a real nats-server: queued publishes arrive whole and in order, errors still
// reach the caller, and close() or drain() sends what was queued first.
const { open, dispose } = await gatewayBusesOnTestNats();
t.teardown(dispose);

/** Collects `count` messages on `subject` through `reader`; resolves with them, in arrival order. */
async function collect(reader: Bus, subject: string, count: number): Promise<() => Promise<string[]>> {
  const got: string[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  reader.subscribe(subject, {
    callback: (_err, msg) => {
      got.push(text(msg.data));
      if (got.length === count) done();
    },
  });
  await reader.flush();
  return async () => {
    await withTimeout(all, 5000, () => undefined);
    return got;
  };
}

t.test('publishes from separate callbacks of one turn all arrive, in order', async (t) => {
  const [bus, reader] = [await open('writer'), await open('reader')];
  t.teardown(async () => {
    await bus.close();
    await reader.close();
  });
  const received = await collect(reader, 'queue.order', 50);
  // 50 timers due at once run as 50 callbacks of one timers phase: one turn of the loop.
  await new Promise<void>((resolve) => {
    for (let i = 0; i < 50; i++) {
      setTimeout(() => {
        bus.publish('queue.order', bytes(`m${i}`));
        if (i === 49) resolve();
      }, 1);
    }
  });
  t.same(
    await received(),
    Array.from({ length: 50 }, (_, i) => `m${i}`),
  );
});

t.test('publish throws at the caller: a closed bus, a bad subject, a payload over max_payload', async (t) => {
  const bus = await open('errors');
  t.throws(() => bus.publish('bad subject', bytes('x')), errors.InvalidSubjectError);
  t.throws(() => bus.publish('queue.big', new Uint8Array(bus.maxPayload! + 1)), /max_payload/);
  await bus.close();
  t.throws(() => bus.publish('queue.late', bytes('late')), errors.ClosedConnectionError);
});

t.test('close() right after publishing still sends what the turn queued', async (t) => {
  const reader = await open('reader');
  t.teardown(() => reader.close());
  const received = await collect(reader, 'queue.close', 10);
  const bus = await open('closer');
  for (let i = 0; i < 10; i++) bus.publish('queue.close', bytes(`c${i}`));
  await bus.close();
  t.same(
    await received(),
    Array.from({ length: 10 }, (_, i) => `c${i}`),
  );
});

t.test('request() goes out after what was published before it', async (t) => {
  const [bus, responder] = [await open('requester'), await open('responder')];
  t.teardown(async () => {
    await bus.close();
    await responder.close();
  });
  const seen: string[] = [];
  responder.subscribe('queue.seq', {
    callback: (_err, msg) => {
      seen.push(text(msg.data));
      if (msg.reply) responder.publish(msg.reply, bytes(seen.join(',')));
    },
  });
  await responder.flush();
  bus.publish('queue.seq', bytes('first'));
  const reply = await bus.request('queue.seq', bytes('second'), { timeoutMs: 5000 });
  t.equal(text(reply.data), 'first,second');
  t.match(reply.subject, /^_INBOX\.gateway\./, "the reply came on the role's own inbox");
});

t.test('the state follows the connection; a closed bus says so', async (t) => {
  const bus = await open('state');
  t.equal(bus.connected, true);
  t.equal(bus.problem, undefined);
  const changes: boolean[] = [];
  bus.onChange((state) => changes.push(state.connected));
  await bus.drain(2000);
  t.equal(bus.closed, true);
  t.equal(bus.connected, false);
  t.match(bus.problem, /closed/);
  await withTimeout(new Promise<void>((resolve) => setImmediate(resolve)), 1000, () => undefined);
  t.same(changes, [false], 'listeners heard it go down once');
});
