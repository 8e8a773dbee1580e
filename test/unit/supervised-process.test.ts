import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import t from 'tap';
import { RestartBackoff } from '../../scripts/lib/restart-backoff.js';
import { supervise, type Incarnation } from '../../scripts/lib/supervised-process.js';

// The supervisor's state machine against fake processes and a hand-driven clock and timer:
// crashes, backoff, failed restarts and stops, without starting anything or sleeping.

t.test('the backoff doubles from 0.5 s to 30 s, and starts over after a stable minute', async (t) => {
  const backoff = new RestartBackoff();
  const delays = Array.from({ length: 9 }, () => backoff.next(1000).delayMs);
  t.same(delays, [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  t.same(backoff.next(59_999), { attempt: 10, delayMs: 30_000 }, 'a crash within the minute counts on');
  t.same(backoff.next(60_000), { attempt: 1, delayMs: 500 }, 'a minute of health resets it');
  t.same(backoff.next(0), { attempt: 2, delayMs: 1000 });
});

class FakeProcess extends EventEmitter {
  constructor(readonly pid: number) {
    super();
  }
  crash(signal: NodeJS.Signals | null = 'SIGKILL') {
    this.emit('exit', signal ? null : 1, signal);
  }
}

interface FakeIncarnation extends Incarnation {
  readonly fake: FakeProcess;
  stopped: boolean;
}

/** A spec whose starts succeed or fail as the test says, and a timer the test fires. */
function harness() {
  const starts: Array<{ restarts: number; signal: AbortSignal }> = [];
  const timers: Array<{ fn: () => void; ms: number; cancelled: boolean }> = [];
  const lines: string[] = [];
  let failNext = 0;
  let pid = 100;
  let clock = 0;
  const spec = {
    name: 'worker',
    start: async (restarts: number, signal: AbortSignal): Promise<FakeIncarnation> => {
      starts.push({ restarts, signal });
      if (failNext > 0) {
        failNext--;
        throw new Error('exited with 1 before it was ready\nmore');
      }
      const fake = new FakeProcess(++pid);
      const incarnation: FakeIncarnation = {
        fake,
        process: fake as unknown as ChildProcess,
        stopped: false,
        stop: async () => {
          incarnation.stopped = true;
        },
      };
      return incarnation;
    },
  };
  const options = {
    say: (line: string) => lines.push(line),
    now: () => clock,
    setTimer: (fn: () => void, ms: number) => {
      const timer = { fn, ms, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
  };
  /** Fires the last timer and waits for the restart it starts. */
  const fire = async () => {
    timers.at(-1)!.fn();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    spec,
    options,
    starts,
    timers,
    lines,
    fire,
    failNextStarts: (n: number) => (failNext = n),
    advance: (ms: number) => (clock += ms),
  };
}

t.test('a crashed process is restarted after the backoff, with its restart count', async (t) => {
  const h = harness();
  const supervised = await supervise(h.spec, h.options);
  t.equal(supervised.current.process.pid, 101);
  supervised.current.fake.crash('SIGKILL');
  t.same(
    h.timers.map((timer) => timer.ms),
    [500],
  );
  t.match(
    h.lines.at(-1),
    /^worker \(pid 101\) exited unexpectedly \(signal SIGKILL\); restarting it in 0\.5 s \(attempt 1\)/,
  );
  await h.fire();
  t.equal(supervised.current.process.pid, 102, 'a new process');
  t.equal(supervised.restarts, 1);
  t.same(
    h.starts.map((start) => start.restarts),
    [0, 1],
    'each start is told how many restarts came before it',
  );

  supervised.current.fake.crash(null);
  t.match(
    h.lines.at(-1),
    /exited unexpectedly \(code 1\); restarting it in 1 s \(attempt 2\)/,
    'a crash loop backs off',
  );
  await h.fire();
  h.advance(60_000);
  supervised.current.fake.crash();
  t.match(h.lines.at(-1), /restarting it in 0\.5 s \(attempt 1\)/, 'after a stable minute it starts over');
});

t.test('a restart that fails is tried again, longer each time, and counted', async (t) => {
  const h = harness();
  const supervised = await supervise(h.spec, h.options);
  supervised.current.fake.crash();
  h.failNextStarts(2);
  await h.fire();
  t.match(
    h.lines.at(-1),
    /^worker did not come back: exited with 1 before it was ready; trying again in 1 s \(attempt 2\)$/,
  );
  await h.fire();
  t.match(h.lines.at(-1), /trying again in 2 s \(attempt 3\)/);
  await h.fire();
  t.equal(supervised.current.process.pid, 102);
  t.equal(supervised.restarts, 3, 'every attempt counts');
  t.equal(h.starts.at(-1)!.restarts, 3);
});

t.test('stop cancels a pending restart, aborts one in progress, and stops the process', async (t) => {
  const h = harness();
  const supervised = await supervise(h.spec, h.options);
  const first = supervised.current;
  await supervised.stop();
  t.ok(first.stopped, 'the running process is stopped');
  first.fake.crash('SIGTERM');
  t.same(h.timers, [], 'its exit during the stop is no crash');

  const h2 = harness();
  const other = await supervise(h2.spec, h2.options);
  other.current.fake.crash();
  await other.stop();
  t.ok(h2.timers[0]!.cancelled, 'the restart waiting for its backoff is cancelled');
  t.ok(h2.starts[0]!.signal.aborted, 'and any start in progress is aborted');
});

t.test('once the stack stops (its signal), an exit is no crash: nothing is restarted', async (t) => {
  const h = harness();
  const stack = new AbortController();
  const supervised = await supervise(h.spec, { ...h.options, signal: stack.signal });
  t.equal(h.starts[0]!.signal.aborted, false);
  stack.abort();
  t.ok(h.starts[0]!.signal.aborted, 'a start in progress would be aborted');
  supervised.current.fake.crash('SIGTERM');
  t.same(h.timers, [], 'no restart scheduled');
  await supervised.stop();
  t.ok(supervised.current.stopped);
});

t.test('the first start is not retried: it fails the stack', async (t) => {
  const h = harness();
  h.failNextStarts(1);
  await t.rejects(supervise(h.spec, h.options), /exited with 1 before it was ready/);
  t.same(h.timers, []);
});
