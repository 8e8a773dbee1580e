import t from 'tap';
import { deadlineSignal } from '../../common/deadline-signal.js';
import { FakeClock } from '../helpers/fake-clock.js';

// The deadline of a worker's audio and embeddings tasks: AbortSignal.any around AbortSignal.timeout
// lost it on Node 20 once the timeout signal was garbage collected (nodejs/node#57736). This one is a
// plain timer, which nothing collects: what is left to test is that it behaves as the signal it replaces.

t.test('aborts with a TimeoutError once its time is up', async (t) => {
  const clock = new FakeClock();
  const source = new AbortController();
  const deadline = deadlineSignal(source.signal, 1000, clock);
  await clock.advance(999);
  t.equal(deadline.signal.aborted, false);
  await clock.advance(1);
  t.equal(deadline.signal.aborted, true);
  t.equal((deadline.signal.reason as DOMException).name, 'TimeoutError');
});

t.test('aborts with the source, with its reason, and after dispose() no timer is left', async (t) => {
  const clock = new FakeClock();
  const source = new AbortController();
  const deadline = deadlineSignal(source.signal, 1000, clock);
  source.abort('cancelled by the gateway');
  t.equal(deadline.signal.reason, 'cancelled by the gateway');
  deadline.dispose();
  t.equal(clock.pending, 0);
});

t.test('a source aborted already aborts it at once', async (t) => {
  const source = new AbortController();
  source.abort('shut down');
  const deadline = deadlineSignal(source.signal, 1000, new FakeClock());
  t.equal(deadline.signal.reason, 'shut down');
  deadline.dispose();
});

t.test('disposed, it neither fires nor follows the source', async (t) => {
  const clock = new FakeClock();
  const source = new AbortController();
  const deadline = deadlineSignal(source.signal, 1000, clock);
  deadline.dispose();
  await clock.advance(5000);
  source.abort('late');
  t.equal(deadline.signal.aborted, false);
});
