import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { openWithRetry } from '../../gateway/audio/open-with-retry.js';
import { StoppedBeforeAnswer } from '../../gateway/call/stopped-before-answer.js';
import { FakeClock } from '../helpers/fake-clock.js';

// A voice call's opening with one retry: which refusals are asked again, and with what time left.
const request = { request_id: 'speech-1', timeout_ms: 2_000 };
const overloaded = () => new AgentbusError('overloaded', 'the worker runs MAX_INFLIGHT calls');

t.test('a retryable refusal is asked once more, with what is left of the limit', async (t) => {
  const clock = new FakeClock();
  const asked: number[] = [];
  const told: string[] = [];
  const opened = await openWithRetry({
    request,
    signal: new AbortController().signal,
    clock,
    onRetry: (error) => told.push(error.code),
    open: async (attempt, n) => {
      asked.push(attempt.timeout_ms);
      await clock.advance(300);
      if (n === 1) throw overloaded();
      return 'start';
    },
  });
  t.equal(opened, 'start');
  t.same(asked, [2_000, 1_700], 'the second attempt gets the limit less the first one');
  t.same(told, ['overloaded']);
});

t.test('a second refusal is the answer, naming both', async (t) => {
  let attempts = 0;
  await t.rejects(
    openWithRetry({
      request,
      signal: new AbortController().signal,
      open: () => {
        attempts++;
        return Promise.reject(attempts === 1 ? overloaded() : new AgentbusError('no_worker', 'nobody serves it'));
      },
    }),
    { code: 'no_worker', message: /nobody serves it \(this was the second attempt; before it: the worker runs/ },
  );
  t.equal(attempts, 2);
});

t.test('no second attempt for the request mistake, for a client gone, or without time left', async (t) => {
  const cases: Array<{ name: string; error: AgentbusError; aborted?: boolean; spentMs?: number }> = [
    { name: 'not retryable', error: new AgentbusError('audio_format_unavailable', 'no ffmpeg') },
    { name: 'client gone', error: overloaded(), aborted: true },
    { name: 'no time left', error: overloaded(), spentMs: 1_950 },
    // bus_unavailable is retryable, but not from a stopping gateway: a second opening would outlive its connection.
    { name: 'gateway stopping', error: new StoppedBeforeAnswer() },
  ];
  for (const { name, error, aborted, spentMs } of cases) {
    const clock = new FakeClock();
    const left = new AbortController();
    if (aborted) left.abort();
    let attempts = 0;
    await t.rejects(
      openWithRetry({
        request,
        signal: left.signal,
        clock,
        open: async () => {
          attempts++;
          await clock.advance(spentMs ?? 0);
          throw error;
        },
      }),
      { code: error.code },
      name,
    );
    t.equal(attempts, 1, `${name}: one attempt`);
  }
});
