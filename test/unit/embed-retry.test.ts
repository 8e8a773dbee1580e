import t from 'tap';
import { AgentbusError, type EmbedVectorsReply } from '../../bus-schemas/index.js';
import { StoppedBeforeAnswer } from '../../gateway/call/stopped-before-answer.js';
import { embedWithRetry, type EmbedAttempt } from '../../gateway/embeddings/retry-embeddings.js';
import { FakeClock } from '../helpers/fake-clock.js';

const vectors: EmbedVectorsReply = {
  type: 'embeddings',
  request_id: 'embd-1',
  embeddings: [],
  model: 'nomic-embed-text',
  provider: 'ollama',
  usage: { prompt_tokens: 1, total_tokens: 1 },
};

/** Attempts answered in turn by `outcomes` (an error is thrown); records what each was given. */
function scripted(clock: FakeClock, outcomes: Array<AgentbusError | EmbedVectorsReply>, tookMs = 0) {
  const calls: Array<{ timeoutMs: number; waitMs: number | undefined }> = [];
  const attempt: EmbedAttempt = async (timeoutMs, waitMs) => {
    calls.push({ timeoutMs, waitMs });
    await clock.advance(tookMs);
    const outcome = outcomes[calls.length - 1]!;
    return outcome instanceof AgentbusError ? Promise.reject(outcome) : Promise.resolve(outcome);
  };
  return { calls, attempt };
}

t.test('a retryable failure is asked once more with the time left; the second has no early limit', async (t) => {
  const clock = new FakeClock();
  const { calls, attempt } = scripted(clock, [new AgentbusError('backend_error', 'ollama down'), vectors], 400);
  const retried: string[] = [];
  const reply = await embedWithRetry({
    totalMs: 10_000,
    firstReplyMs: 2_000,
    attempt,
    onRetry: (e) => retried.push(e.code),
    clock,
  });
  t.equal(reply, vectors);
  t.same(calls, [
    { timeoutMs: 10_000, waitMs: 2_000 },
    { timeoutMs: 9_600, waitMs: undefined },
  ]);
  t.same(retried, ['backend_error']);
});

t.test('a silent worker (first_token_timeout) and no responders are retried too', async (t) => {
  for (const code of ['first_token_timeout', 'no_worker'] as const) {
    const clock = new FakeClock();
    const { calls, attempt } = scripted(clock, [new AgentbusError(code, 'x'), vectors]);
    await embedWithRetry({ totalMs: 5_000, firstReplyMs: 1_000, attempt, onRetry: () => undefined, clock });
    t.equal(calls.length, 2, code);
  }
});

t.test("not retried: a stopping gateway's 503, though bus_unavailable is retryable", async (t) => {
  const clock = new FakeClock();
  const stopped = scripted(clock, [new StoppedBeforeAnswer(), vectors]);
  const retried: string[] = [];
  await t.rejects(
    embedWithRetry({
      totalMs: 5_000,
      firstReplyMs: 1_000,
      attempt: stopped.attempt,
      onRetry: (e) => retried.push(e.code),
      clock,
    }),
    { code: 'bus_unavailable', message: /GATEWAY_DRAIN_TIMEOUT_MS/ },
  );
  t.equal(stopped.calls.length, 1);
  t.same(retried, []);
});

t.test("not retried: an upstream's rate limit, which every worker of the agent shares", async (t) => {
  const clock = new FakeClock();
  const limited = new AgentbusError('backend_rate_limited', 'busy', { retryAfterMs: 7000 });
  const { calls, attempt } = scripted(clock, [limited, vectors]);
  await t.rejects(embedWithRetry({ totalMs: 5_000, firstReplyMs: 1_000, attempt, onRetry: () => undefined, clock }), {
    code: 'backend_rate_limited',
    retryAfterMs: 7000,
  });
  t.equal(calls.length, 1);
});

t.test('not retried: a client error, or no time left; the second failure names the first', async (t) => {
  const clock = new FakeClock();
  const bad = scripted(clock, [new AgentbusError('invalid_request', 'tokens to Ollama', { param: 'input' })]);
  await t.rejects(
    embedWithRetry({ totalMs: 5_000, firstReplyMs: 1_000, attempt: bad.attempt, onRetry: () => undefined, clock }),
    { code: 'invalid_request', param: 'input' },
  );
  t.equal(bad.calls.length, 1);

  const late = scripted(clock, [new AgentbusError('backend_error', 'slow death')], 4_950);
  await t.rejects(
    embedWithRetry({ totalMs: 5_000, firstReplyMs: 10_000, attempt: late.attempt, onRetry: () => undefined, clock }),
    { code: 'backend_error' },
  );
  t.same(late.calls, [{ timeoutMs: 5_000, waitMs: undefined }], 'a first-reply limit past the deadline is none');

  const twice = scripted(clock, [new AgentbusError('no_worker', 'none'), new AgentbusError('no_worker', 'still none')]);
  await t.rejects(
    embedWithRetry({ totalMs: 5_000, firstReplyMs: 1_000, attempt: twice.attempt, onRetry: () => undefined, clock }),
    { code: 'no_worker', message: /still none \(this was the second attempt; before it: none\)/ },
  );

  const open = (retryAfterMs: number) =>
    new AgentbusError('no_provider_available', 'every circuit open', { retryAfterMs });
  const circuits = scripted(clock, [open(25_000), open(30_000)]);
  await t.rejects(
    embedWithRetry({ totalMs: 5_000, firstReplyMs: 1_000, attempt: circuits.attempt, onRetry: () => undefined, clock }),
    { code: 'no_provider_available', retryAfterMs: 25_000 },
    "two workers' open circuits: the earlier reopening",
  );
});
