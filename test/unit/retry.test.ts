import t from 'tap';
import { AgentbusError, type FallbackStep, type ReplyFrame } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import type { CallScope, FrameSource } from '../../gateway/call/call.js';
import { withRetries } from '../../gateway/call/retry.js';
import { StoppedBeforeAnswer } from '../../gateway/call/stopped-before-answer.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { FrameMaker, readAll, testScope, untilClosed } from '../helpers/frames.js';

// Retry and fallback before the first token, against scripted attempts and a fake clock.

const agent = (name: string) => ({ name }) as Agent;
const TESTING = agent('testing');
const FALLBACK = agent('general');

/** Each attempt's frames, or a function of its scope (to hang, or to watch the scope). */
type Script = ReplyFrame[] | ((scope: CallScope) => AsyncIterable<ReplyFrame>);

function run(scripts: Script[], options: { fallback?: Agent; firstTokenMs?: number; totalMs?: number } = {}) {
  const clock = new FakeClock();
  const attempts: Array<{ agent: string; timeoutMs: number; attempt: number; scope: CallScope }> = [];
  const steps: FallbackStep[] = [];
  const scope = testScope();
  const source = withRetries({
    agent: TESTING,
    fallback: options.fallback,
    firstTokenMs: options.firstTokenMs ?? 1000,
    totalMs: options.totalMs ?? 10_000,
    clock,
    onStep: (step) => steps.push(step),
    attempt:
      (target, timeoutMs, attempt): FrameSource =>
      (attemptScope) => {
        attempts.push({ agent: target.name, timeoutMs, attempt, scope: attemptScope });
        const script = scripts[attempts.length - 1];
        if (!script) throw new Error('no script for this attempt');
        return typeof script === 'function'
          ? script(attemptScope)
          : (async function* () {
              yield* script;
            })();
      },
  });
  const read = readAll(source(scope));
  return { read, attempts, steps, clock, scope };
}

t.test('an answer at the first attempt passes through, renumbered from 0', async (t) => {
  const f = new FrameMaker();
  const { read, attempts, steps } = run([[f.ack(), f.delta('hi'), f.done()]]);
  await read.finished;
  t.same(
    read.frames.map((frame) => [frame.type, frame.seq]),
    [
      ['ack', 0],
      ['delta', 1],
      ['done', 2],
    ],
  );
  t.equal(attempts.length, 1);
  t.same(steps, []);
  t.notOk((read.frames[2] as Extract<ReplyFrame, { type: 'done' }>).meta.fallback, 'no fallback steps');
});

t.test('a retryable error before the first token: the same agent once more, one ack relayed', async (t) => {
  const [a, b] = [new FrameMaker(), new FrameMaker()];
  const { read, attempts, steps } = run([
    [a.ack(), a.error('backend_unreachable')],
    [b.ack(), b.delta('ok'), b.done()],
  ]);
  await read.finished;
  t.same(
    attempts.map((x) => [x.agent, x.attempt]),
    [
      ['testing', 1],
      ['testing', 2],
    ],
    'the second says which attempt it is (its worker replaces what the first left)',
  );
  t.same(
    read.frames.map((frame) => [frame.type, frame.seq]),
    [
      ['ack', 0],
      ['delta', 1],
      ['done', 2],
    ],
  );
  const expected = [{ kind: 'retry', from: 'testing', to: 'testing', reason: 'backend_unreachable' }];
  t.same(steps, expected);
  t.same((read.frames[2] as Extract<ReplyFrame, { type: 'done' }>).meta.fallback, expected);
});

t.test("after two failures the agent's fallback answers; the steps are listed in order", async (t) => {
  const [a, b, c] = [new FrameMaker(), new FrameMaker(), new FrameMaker()];
  const { read, attempts } = run(
    [
      [a.error('overloaded')],
      [b.error('no_worker')],
      [
        c.ack(),
        c.delta('fallback'),
        c.done({ fallback: [{ kind: 'provider', from: 'ollama', to: 'openai', reason: 'backend_error' }] }),
      ],
    ],
    { fallback: FALLBACK },
  );
  await read.finished;
  t.same(
    attempts.map((x) => x.agent),
    ['testing', 'testing', 'general'],
  );
  const done = read.frames.at(-1) as Extract<ReplyFrame, { type: 'done' }>;
  t.same(
    done.meta.fallback?.map((step) => step.kind),
    ['retry', 'agent', 'provider'],
    "the gateway's steps come before the worker's own",
  );
});

t.test('a non-retryable error is relayed at once, naming no earlier attempt', async (t) => {
  const a = new FrameMaker();
  const { read, attempts } = run([[a.ack(), a.error('invalid_request', 'bad tool schema')]], { fallback: FALLBACK });
  await read.finished;
  t.equal(attempts.length, 1);
  const last = read.frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>;
  t.equal(last.error.code, 'invalid_request');
  t.equal(last.error.message, 'bad tool schema');
});

t.test("a refused key skips the retry: the agent's fallback is the second attempt", async (t) => {
  const [a, b] = [new FrameMaker(), new FrameMaker()];
  const { read, attempts, steps } = run(
    [
      [a.ack(), a.error('backend_auth_failed', 'refused the key (HTTP 401): set OPENAI_API_KEY')],
      [b.ack(), b.delta('from the fallback'), b.done()],
    ],
    { fallback: FALLBACK },
  );
  await read.finished;
  t.same(
    attempts.map((x) => [x.agent, x.attempt]),
    [
      ['testing', 1],
      ['general', 2],
    ],
    'the same agent is not asked again; the envelope counts attempts made, not plan entries',
  );
  const expected = [{ kind: 'agent', from: 'testing', to: 'general', reason: 'backend_auth_failed' }];
  t.same(steps, expected);
  t.same(
    read.frames.map((frame) => [frame.type, frame.seq]),
    [
      ['ack', 0],
      ['delta', 1],
      ['done', 2],
    ],
  );
  t.same((read.frames[2] as Extract<ReplyFrame, { type: 'done' }>).meta.fallback, expected);
});

t.test('each error the table sends to the next agent skips the retry; others end the call', async (t) => {
  for (const code of ['backend_model_not_found', 'backend_quota_exceeded', 'no_local_provider'] as const) {
    const [a, b] = [new FrameMaker(), new FrameMaker()];
    const { read, attempts } = run([[a.error(code)], [b.ack(), b.delta('x'), b.done()]], { fallback: FALLBACK });
    await read.finished;
    t.same(
      attempts.map((x) => x.agent),
      ['testing', 'general'],
      code,
    );
  }
  const a = new FrameMaker();
  const { read, attempts } = run([[a.error('context_length_exceeded')]], { fallback: FALLBACK });
  await read.finished;
  t.equal(attempts.length, 1, "a client error is the client's to fix: no other agent is asked");
});

t.test('a refused key with no fallback is relayed at once, as the worker said it', async (t) => {
  const a = new FrameMaker();
  const { read, attempts, steps } = run([[a.ack(), a.error('backend_auth_failed', 'refused the key')]]);
  await read.finished;
  t.equal(attempts.length, 1);
  t.same(steps, []);
  const last = read.frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>;
  t.match(last.error, { code: 'backend_auth_failed', message: 'refused the key', retryable: false });
});

t.test('a refused key at the retry still reaches the fallback; its failure names each attempt', async (t) => {
  const [a, b, c] = [new FrameMaker(), new FrameMaker(), new FrameMaker()];
  const { read, attempts, steps } = run(
    [[a.error('overloaded', 'full')], [b.error('backend_auth_failed', 'refused')], [c.error('backend_error', 'down')]],
    { fallback: FALLBACK },
  );
  await read.finished;
  t.same(
    attempts.map((x) => [x.agent, x.attempt]),
    [
      ['testing', 1],
      ['testing', 2],
      ['general', 3],
    ],
  );
  t.same(
    steps.map((step) => step.kind),
    ['retry', 'agent'],
  );
  const last = read.frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>;
  t.equal(last.error.message, 'down (this was the third attempt; before it: testing: full; testing: refused)');
});

t.test("the fallback's failure after a refused key is its own, and so is the Retry-After", async (t) => {
  const [a, b] = [new FrameMaker(), new FrameMaker()];
  const { read } = run(
    [[a.error('backend_auth_failed', 'refused')], [b.error('no_provider_available', 'open', 40_000)]],
    { fallback: FALLBACK },
  );
  await read.finished;
  const last = read.frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>;
  t.equal(last.error.code, 'no_provider_available');
  t.equal(last.error.message, 'open (this was the second attempt; before it: testing: refused)');
  t.equal(
    last.error.retry_after_ms,
    40_000,
    "a retry passes over the refusing agent too: the fallback's reopening is when one can succeed",
  );
});

t.test("a last error not retried carries no earlier agent's Retry-After", async (t) => {
  const limited = () => new FrameMaker().error('backend_rate_limited', 'upstream says wait', 7000);
  const refused = new FrameMaker().error('backend_auth_failed', 'refused the key');
  const relayed = run([[limited()], [refused]], { fallback: FALLBACK });
  await relayed.read.finished;
  const last = relayed.read.frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>;
  t.match(last.error, { code: 'backend_auth_failed', retryable: false, message: /before it: testing: upstream says/ });
  t.notOk('retry_after_ms' in last.error, 'the WebSocket would say retry_after for an error no wait fixes');

  const thrown = run(
    [
      [limited()],
      // eslint-disable-next-line require-yield -- fails before any frame
      async function* () {
        throw new AgentbusError('backend_auth_failed', 'refused the key');
      },
    ],
    { fallback: FALLBACK },
  );
  await thrown.read.finished;
  t.match(thrown.read.error, { code: 'backend_auth_failed', retryAfterMs: undefined });
});

t.test('when every attempt fails, the error names the earlier ones', async (t) => {
  const [a, b] = [new FrameMaker(), new FrameMaker()];
  const { read } = run([[a.error('no_worker', 'nobody A')], [b.error('no_worker', 'nobody B')]]);
  await read.finished;
  const last = read.frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>;
  t.match(last.error.message, /^nobody B \(this was the second attempt; before it: testing: nobody A\)$/);
});

t.test("every agent's circuits open: the relayed error says the earliest reopening", async (t) => {
  const open = (ms: number | undefined) => new FrameMaker().error('no_provider_available', 'open', ms);
  const lastError = async (waits: Array<number | undefined>) => {
    const { read } = run(
      waits.map((ms) => [open(ms)]),
      { fallback: FALLBACK },
    );
    await read.finished;
    return (read.frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>).error;
  };
  t.equal((await lastError([20_000, 19_000, 40_000])).retry_after_ms, 19_000, "not the fallback agent's later one");
  t.equal(
    (await lastError([undefined, 20_000, 40_000])).retry_after_ms,
    20_000,
    "each agent as its latest attempt found it: the first one's failure opened the circuit",
  );
  t.equal(
    (await lastError([5_000, 19_000, 40_000])).retry_after_ms,
    5_000,
    "an agent's attempts may meet two workers' breakers: the earliest",
  );
  t.notOk('retry_after_ms' in (await lastError([20_000, 19_000, undefined])), 'an agent that may answer now: none');
  t.notOk(
    'retry_after_ms' in (await lastError([undefined, undefined, 40_000])),
    "the relayed frame's own value goes when another agent may answer now",
  );
});

t.test(
  "an upstream's rate limit: not the same agent again, its fallback; its Retry-After reaches the client",
  async (t) => {
    const limited = () => new FrameMaker().error('backend_rate_limited', 'upstream says wait', 7000);
    const alone = run([[limited()]]);
    await alone.read.finished;
    t.same(
      alone.attempts.map((x) => x.agent),
      ['testing'],
      "every worker of the agent shares the upstream's limit: one call",
    );
    const last = alone.read.frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>;
    t.match(last.error, { code: 'backend_rate_limited', retry_after_ms: 7000, message: 'upstream says wait' });

    const c = new FrameMaker();
    const withFallback = run([[limited()], [c.ack(), c.delta('ok'), c.done()]], { fallback: FALLBACK });
    await withFallback.read.finished;
    t.same(
      withFallback.attempts.map((x) => [x.agent, x.attempt]),
      [
        ['testing', 1],
        ['general', 2],
      ],
      'the fallback agent answers as attempt 2: attempts count those made, not the plan',
    );
    t.same(withFallback.steps, [{ kind: 'agent', from: 'testing', to: 'general', reason: 'backend_rate_limited' }]);
  },
);

t.test('nothing is retried once a token was relayed', async (t) => {
  const a = new FrameMaker();
  const { read, attempts } = run([[a.ack(), a.delta('half'), a.error('backend_error')]]);
  await read.finished;
  t.equal(attempts.length, 1);
  t.same(
    read.frames.map((frame) => frame.type),
    ['ack', 'delta', 'error'],
  );
});

t.test('no first token in time: the attempt is closed and the agent asked again', async (t) => {
  const [a, b] = [new FrameMaker(), new FrameMaker()];
  const { read, attempts, clock, steps } = run(
    [(scope) => untilClosed(scope, [a.ack()]), [b.ack(), b.delta('x'), b.done()]],
    {
      firstTokenMs: 1000,
    },
  );
  await clock.advance(999);
  t.equal(attempts.length, 1);
  await clock.advance(1);
  await read.finished;
  t.ok(attempts[0]!.scope.closed.aborted, 'the slow attempt was closed (its worker told to cancel)');
  t.equal(steps[0]?.reason, 'first_token_timeout');
  t.equal(attempts[1]!.timeoutMs, 9000, 'the retry gets what is left of the shared deadline');
  t.equal(read.frames.at(-1)?.type, 'done');
});

t.test('a heartbeat announcing generation meets the first-token limit', async (t) => {
  const a = new FrameMaker();
  let finish!: () => void;
  const { read, attempts, clock } = run([
    async function* () {
      yield a.ack();
      yield a.heartbeat(true);
      await new Promise<void>((resolve) => (finish = resolve));
      yield a.done();
    },
  ]);
  await clock.advance(5000);
  t.equal(attempts.length, 1, 'no retry while the model generates');
  finish();
  await read.finished;
  t.equal(read.frames.at(-1)?.type, 'done');
});

t.test('a first-token limit no shorter than the whole deadline is left to the deadline', async (t) => {
  const a = new FrameMaker();
  const { attempts, clock } = run([(scope) => untilClosed(scope, [a.ack()])], { firstTokenMs: 5000, totalMs: 5000 });
  await clock.advance(10_000);
  t.equal(attempts.length, 1);
  t.notOk(attempts[0]!.scope.closed.aborted);
});

t.test('a cancel stops the first-token timer: no retry, the worker says how it ended', async (t) => {
  const a = new FrameMaker();
  let confirm!: () => void;
  const { read, attempts, clock, scope } = run([
    async function* () {
      yield a.ack();
      await new Promise<void>((resolve) => (confirm = resolve));
      yield a.error('request_cancelled', 'Cancelled by the requester');
    },
  ]);
  await settle();
  scope.cancel();
  await clock.advance(5000);
  t.equal(attempts.length, 1, 'no retry after a cancel');
  confirm();
  await read.finished;
  const last = read.frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>;
  t.equal(last.error.code, 'request_cancelled');
});

t.test('the gateway stopping before the first token: its 503 as it is, no further attempt', async (t) => {
  const a = new FrameMaker();
  const stopped = new StoppedBeforeAnswer();
  const { read, attempts, steps } = run(
    [
      async function* () {
        yield a.ack();
        throw stopped;
      },
    ],
    { fallback: FALLBACK },
  );
  await read.finished;
  t.equal(read.error, stopped, 'retryable by its client, elsewhere: not here');
  t.equal(attempts.length, 1);
  t.same(steps, []);
});

t.test('a close ends the frames without a terminal one, and starts no further attempt', async (t) => {
  const a = new FrameMaker();
  const { read, attempts, scope } = run([(attemptScope) => untilClosed(attemptScope, [a.ack()])]);
  await settle();
  scope.close();
  await read.finished;
  t.equal(attempts.length, 1);
  t.same(
    read.frames.map((frame) => frame.type),
    ['ack'],
  );
  t.equal(read.error, undefined);
});

t.test('a cancel before any attempt is request_cancelled, and nothing is published', async (t) => {
  const clock = new FakeClock();
  const scope = testScope();
  scope.cancel();
  let attempts = 0;
  const source = withRetries({
    agent: TESTING,
    fallback: undefined,
    firstTokenMs: 1000,
    totalMs: 10_000,
    clock,
    onStep: () => undefined,
    attempt: () => () => {
      attempts++;
      return (async function* () {})();
    },
  });
  const read = readAll(source(scope));
  await read.finished;
  t.equal(read.error?.code, 'request_cancelled');
  t.equal(attempts, 0);
});
