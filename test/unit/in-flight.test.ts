import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { InFlight } from '../../workers/in-flight.js';
import { settle } from '../helpers/fake-clock.js';

// The worker's register of running answers: cancels by request id, shutdown aborts, drain waits.
const cancelled = new AgentbusError('request_cancelled', 'Cancelled by the requester: test');

t.test('a cancel aborts every copy of its request and nothing else', async (t) => {
  const inFlight = new InFlight();
  const first = inFlight.enter('req-1');
  const redelivered = inFlight.enter('req-1');
  const other = inFlight.enter('req-2');
  inFlight.cancel('req-1', cancelled);
  t.equal(first.signal.reason, cancelled);
  t.equal(redelivered.signal.reason, cancelled);
  t.notOk(other.signal.aborted);
  inFlight.cancel('unknown', cancelled);
  t.notOk(other.signal.aborted, 'a cancel for a request this worker does not hold is ignored');
});

t.test('a request that left is no longer cancelled; abortAll reaches the rest', async (t) => {
  const inFlight = new InFlight();
  const left = inFlight.enter('req-1');
  left.leave();
  inFlight.cancel('req-1', cancelled);
  t.notOk(left.signal.aborted);

  const shutdown = new AgentbusError('worker_lost', 'shutting down');
  const a = inFlight.enter('a');
  const b = inFlight.enter('b');
  inFlight.abortAll(shutdown);
  t.equal(a.signal.reason, shutdown);
  t.equal(b.signal.reason, shutdown);
});

t.test('tracked work counts until it settles, a failure included', async (t) => {
  const inFlight = new InFlight();
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const ok = new Promise<void>((resolve) => (finish = resolve));
  const failing = new Promise<void>((_resolve, reject) => (fail = reject));
  failing.catch(() => undefined); // its owner handles the failure, as the agent service does
  inFlight.track(ok);
  inFlight.track(failing);
  t.equal(inFlight.size, 2);
  let drained = false;
  const drain = inFlight.settled().then(() => (drained = true));
  fail(new Error('handler failed'));
  await settle();
  t.equal(inFlight.size, 1);
  t.notOk(drained, 'the drain still waits for the other answer');
  finish();
  await drain;
  t.equal(inFlight.size, 0);
});
