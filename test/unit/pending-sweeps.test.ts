import t from 'tap';
import { createLogger } from '../../common/logger.js';
import { PENDING_SWEEP_INTERVAL_MS, startPendingSweeps } from '../../workers/memory/pending-sweeps.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';

const log = createLogger('test', { level: 'silent' });

t.test('a sweep at start, then one an interval after each ends; never two at once', async (t) => {
  const clock = new FakeClock();
  const started: number[] = [];
  let finish: (() => void) | undefined;
  const sweeps = startPendingSweeps({
    clock,
    log,
    random: () => 0.5,
    sweep: () => {
      started.push(clock.now());
      return new Promise<number>((resolve) => (finish = () => resolve(1)));
    },
  });
  await settle();
  t.same(started, [clock.now()], 'at once');
  await clock.advance(3 * PENDING_SWEEP_INTERVAL_MS);
  t.equal(started.length, 1, 'a sweep still under way: no second one');
  const ended = clock.now();
  finish!();
  await clock.advance(PENDING_SWEEP_INTERVAL_MS - 1);
  t.equal(started.length, 1);
  await clock.advance(1);
  t.same(started, [started[0], ended + PENDING_SWEEP_INTERVAL_MS], 'one interval after the first ended');
  finish!();
  await sweeps.stop();
  t.equal(clock.pending, 0, 'no timer left');
});

t.test('a failed sweep is tried again at the next interval', async (t) => {
  const clock = new FakeClock();
  let calls = 0;
  const sweeps = startPendingSweeps({
    clock,
    log,
    intervalMs: 1000,
    random: () => 0.5,
    sweep: () => (++calls === 1 ? Promise.reject(new Error('database is locked')) : Promise.resolve(0)),
  });
  await clock.advance(1000);
  t.equal(calls, 2);
  await sweeps.stop();
});

t.test('stop aborts the sweep under way, waits for it, and starts no other', async (t) => {
  const clock = new FakeClock();
  let signal: AbortSignal | undefined;
  let calls = 0;
  const sweeps = startPendingSweeps({
    clock,
    log,
    sweep: (stop) => {
      calls++;
      signal = stop;
      return new Promise<number>((resolve) => stop.addEventListener('abort', () => resolve(0)));
    },
  });
  await settle();
  await sweeps.stop();
  t.equal(signal?.aborted, true, 'the sweep was told to stop after its step');
  await clock.advance(10 * PENDING_SWEEP_INTERVAL_MS);
  t.equal(calls, 1);
  t.equal(clock.pending, 0);
});

t.test('stopped between sweeps: its timer goes, and no sweep follows', async (t) => {
  const clock = new FakeClock();
  let calls = 0;
  const sweeps = startPendingSweeps({ clock, log, sweep: () => Promise.resolve(++calls) });
  await settle();
  t.equal(clock.pending, 1, 'waiting for the next sweep');
  await sweeps.stop();
  t.equal(clock.pending, 0, 'the wait is cleared');
  await clock.advance(10 * PENDING_SWEEP_INTERVAL_MS);
  t.equal(calls, 1);
});

t.test('each wait falls within ±25 % of the interval', async (t) => {
  for (const [random, wait] of [
    [0, 0.75 * PENDING_SWEEP_INTERVAL_MS],
    [1, 1.25 * PENDING_SWEEP_INTERVAL_MS],
  ] as const) {
    const clock = new FakeClock();
    let calls = 0;
    const sweeps = startPendingSweeps({ clock, log, random: () => random, sweep: () => Promise.resolve(++calls) });
    await clock.advance(wait - 1);
    t.equal(calls, 1);
    await clock.advance(1);
    t.equal(calls, 2, `random ${random}: the next sweep after ${wait} ms`);
    await sweeps.stop();
  }
});
