import t from 'tap';
import { AgentbusError, type ErrorCode } from '../../bus-schemas/index.js';
import { createBreaker, createBreakers, type ProviderBreaker } from '../../workers/providers/breakers.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { recordingLogger } from '../helpers/fake-provider.js';

// One provider's circuit breaker on a fake clock: closed → open after BREAKER_FAILURES
// counted failures → half-open after BREAKER_COOLDOWN_MS (moved, not waited) → closed or open.
const SETTINGS = { failures: 3, cooldownMs: 30_000 };
const never = new AbortController().signal;

function setup() {
  const clock = new FakeClock();
  const { log, lines } = recordingLogger();
  const breaker = createBreaker('ollama', SETTINGS, log, clock);
  return { clock, lines, breaker };
}

const ok = (breaker: ProviderBreaker) => breaker.run(() => Promise.resolve('answer'), never);
async function fail(breaker: ProviderBreaker, code: ErrorCode = 'backend_error', signal = never) {
  const error = new AgentbusError(code, `fake ${code}`);
  await breaker
    .run(() => Promise.reject(error), signal)
    .then(
      () => {
        throw new Error('expected the attempt to fail');
      },
      (thrown: unknown) => {
        if (thrown !== error) throw new Error('the breaker changed the error');
      },
    );
  return error;
}
async function openIt(breaker: ProviderBreaker) {
  for (let i = 0; i < SETTINGS.failures; i++) await fail(breaker);
}

t.test('closed: calls pass through, and only the backend being unwell counts', async (t) => {
  const { breaker } = setup();
  t.equal(await ok(breaker), 'answer');
  // Not the backend's fault: a bad request, a bug, or an aborted call.
  for (let i = 0; i < 5; i++) await fail(breaker, 'invalid_request');
  const aborted = new AbortController();
  aborted.abort(new AgentbusError('request_cancelled'));
  for (let i = 0; i < 5; i++) await fail(breaker, 'backend_unreachable', aborted.signal);
  t.equal(breaker.refusal(), undefined, 'still closed');
  t.equal(breaker.lastFailure(), undefined, 'none of them counted');

  // A success in between breaks the streak.
  await fail(breaker);
  await fail(breaker);
  await ok(breaker);
  await fail(breaker);
  await fail(breaker);
  t.equal(breaker.refusal(), undefined, 'two, a success, two: never three in a row');
});

t.test("an upstream's rate limit or empty account is not an outage: the circuit stays closed", async (t) => {
  const { breaker } = setup();
  // The user's case: 429s between 500s opened the circuit for every agent and embeddings on the provider.
  await fail(breaker);
  for (let i = 0; i < 5; i++) await fail(breaker, 'backend_rate_limited');
  for (let i = 0; i < 5; i++) await fail(breaker, 'backend_quota_exceeded');
  await fail(breaker);
  t.equal(breaker.refusal(), undefined, 'two 500s and ten 429s: still closed');
  t.equal(breaker.lastFailure()?.code, 'backend_error', 'only the 500s counted');
  await fail(breaker);
  t.match(breaker.refusal(), /3 consecutive failures/, 'a third 500 opens it: the 429s kept the streak, not reset it');
});

t.test('BREAKER_FAILURES consecutive failures open the circuit; the refusal names the time left', async (t) => {
  const { clock, lines, breaker } = setup();
  await fail(breaker);
  await fail(breaker, 'backend_unreachable');
  const last = await fail(breaker, 'backend_unreachable');
  t.equal(breaker.lastFailure(), last);
  t.equal(
    breaker.refusal(),
    'circuit open for another 30 s after 3 consecutive failures, the last backend_unreachable ' +
      '(BREAKER_FAILURES, BREAKER_COOLDOWN_MS)',
  );
  t.match(lines.at(-1), { level: 40, provider: 'ollama', cooldownMs: 30_000, msg: /circuit opened; skipping it/ });
  t.equal(breaker.reopensInMs(), 30_000);

  await clock.advance(20_500);
  t.match(breaker.refusal(), /^circuit open for another 10 s /, 'rounded up to whole seconds');
  t.equal(breaker.reopensInMs(), 9_500);
  await clock.advance(9_499);
  t.match(breaker.refusal(), /^circuit open for another 1 s /);
  await t.rejects(ok(breaker), /ollama was called although its breaker refuses/, 'run() refuses too');
  await clock.advance(1);
  t.equal(breaker.refusal(), undefined, 'the cooldown is over: the next call is the trial');
  t.equal(breaker.reopensInMs(), undefined);
});

t.test('half-open: one trial runs; its success closes the circuit', async (t) => {
  const { clock, lines, breaker } = setup();
  await openIt(breaker);
  await clock.advance(SETTINGS.cooldownMs);
  let finish!: (value: string) => void;
  const trial = breaker.run(() => new Promise<string>((resolve) => (finish = resolve)), never);
  t.equal(
    breaker.refusal(),
    'circuit half-open, its one trial request is still running (BREAKER_COOLDOWN_MS)',
    'others skip the provider while the trial runs',
  );
  finish('recovered');
  t.equal(await trial, 'recovered');
  t.equal(breaker.refusal(), undefined, 'closed');
  t.match(lines.at(-1), { level: 30, provider: 'ollama', msg: 'ollama: circuit closed' });

  await fail(breaker);
  await fail(breaker);
  t.equal(breaker.refusal(), undefined, 'the streak started over');
  await fail(breaker);
  t.ok(breaker.refusal(), 'three more open it again');
});

t.test('half-open: a failed trial opens the circuit for a whole cooldown more', async (t) => {
  const { clock, breaker } = setup();
  await openIt(breaker);
  await clock.advance(SETTINGS.cooldownMs + 5_000);
  await fail(breaker, 'backend_unreachable');
  t.equal(
    breaker.refusal(),
    'circuit open for another 30 s after its trial request failed with backend_unreachable ' +
      '(BREAKER_FAILURES, BREAKER_COOLDOWN_MS)',
  );
  await clock.advance(SETTINGS.cooldownMs - 1);
  t.ok(breaker.refusal(), 'timed from the trial, not from the first opening');
  await clock.advance(1);
  t.equal(breaker.refusal(), undefined);
  await ok(breaker);
  t.equal(breaker.refusal(), undefined, 'closed after a second, successful trial');
});

t.test('half-open: a trial with no verdict closes the circuit but keeps the streak', async (t) => {
  const { clock, breaker } = setup();
  await openIt(breaker);
  await clock.advance(SETTINGS.cooldownMs);
  const aborted = new AbortController();
  aborted.abort(new AgentbusError('request_cancelled'));
  await fail(breaker, 'backend_unreachable', aborted.signal);
  t.equal(breaker.refusal(), undefined, 'an aborted trial says nothing about the backend: the next call is normal');
  await fail(breaker);
  t.match(breaker.refusal(), /^circuit open for another 30 s after 3 consecutive failures/, 'no success yet: re-open');
});

t.test('a call started before the circuit opened only adds to the streak when it fails late', async (t) => {
  const { clock, breaker } = setup();
  let failLate!: () => void;
  const slow = breaker.run(
    () =>
      new Promise<string>((_resolve, reject) => (failLate = () => reject(new AgentbusError('backend_error', 'late')))),
    never,
  );
  await openIt(breaker);
  await clock.advance(10_000);
  failLate();
  await t.rejects(slow, { message: 'late' });
  t.match(breaker.refusal(), /^circuit open for another 20 s /, 'the open period is not restarted');
});

t.test('createBreakers: one breaker per provider name, shared by every caller', async (t) => {
  const { log } = recordingLogger();
  const clock = new FakeClock();
  const breakerOf = createBreakers(SETTINGS, log, clock);
  t.equal(breakerOf('ollama'), breakerOf('ollama'));
  await openIt(breakerOf('ollama'));
  t.ok(breakerOf('ollama').refusal());
  t.equal(breakerOf('openai').refusal(), undefined, 'another provider is not affected');
});
