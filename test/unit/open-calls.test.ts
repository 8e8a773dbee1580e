import t from 'tap';
import { OpenCalls } from '../../gateway/call/open-calls.js';
import type { CallSummary } from '../../gateway/call/observe.js';
import { FakeClock } from '../helpers/fake-clock.js';

const summary: CallSummary = {
  agent: 'a',
  conversationId: 'c',
  cached: false,
  responseChars: 0,
  status: 200,
  durationMs: 1,
};

t.test('idle() waits for every opened call to report its end, and passes events on', async (t) => {
  const seen: string[] = [];
  const calls = new OpenCalls({ opened: (agent) => seen.push(`opened ${agent}`), ended: () => seen.push('ended') });
  await calls.idle(60_000); // none open: at once
  calls.opened('a');
  calls.opened('b');
  let idle = false;
  const waiting = calls.idle(60_000).then(() => (idle = true));
  calls.ended(summary);
  await Promise.resolve();
  t.equal(idle, false, 'one call still open');
  calls.ended(summary);
  await waiting;
  t.equal(calls.open, 0);
  t.same(seen, ['opened a', 'opened b', 'ended', 'ended']);
});

t.test("idle() gives up after its limit; a listener's error still counts the end", async (t) => {
  const clock = new FakeClock();
  const listener = {
    opened: () => undefined,
    ended: () => {
      throw new Error('metrics bug');
    },
  };
  const calls = new OpenCalls(listener, clock);
  calls.opened('a');
  let idle = false;
  const waiting = calls.idle(500).then(() => (idle = true));
  await clock.advance(499);
  t.equal(idle, false);
  await clock.advance(1); // a call nobody reads to its end never reports: the wait is bounded
  await waiting;
  t.equal(calls.open, 1);
  t.throws(() => calls.ended(summary));
  t.equal(calls.open, 0);
});
