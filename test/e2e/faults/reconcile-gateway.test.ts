import t from 'tap';
import { ask, assertReconciled, reconcile, startChaosStack, summary, type Outcome } from '../../helpers/chaos.js';
import { sleep, waitFor, waitUntil } from '../../helpers/wait.js';

// Issue 16's gateway fault on real processes: the gateway is killed (-9) with 8 streams and
// conversations in flight. Their model calls must be aborted within a few seconds (the fake
// Ollama sees its connections closed), nothing of theirs is committed, and after a restart the
// conversations go on with exactly their delivered turns as history.
const stack = await startChaosStack({ workers: 2, tokenDelayMs: 100, fillerTokens: 4 });
t.teardown(() => stack.close());

const outcomes: Outcome[] = [];
const STREAMS = 8;

/** Conversations of `turns` turns each, all at once; resolves with their sessions. */
async function conversations(prefix: string, count: number, turns: number, sessions: Array<string | undefined>) {
  await Promise.all(
    Array.from({ length: count }, async (_, k) => {
      for (let turn = 1; turn <= turns; turn++) {
        const outcome = await ask(stack.baseUrl, {
          mode: turn % 3 === 0 ? 'json' : 'sse',
          conversation: `${prefix}${k}`,
          turn,
          session: sessions[k],
        });
        outcomes.push(outcome);
        if (outcome.kind === 'complete') sessions[k] ??= outcome.session;
        if (outcome.kind === 'cut') return;
      }
    }),
  );
}

t.test('gateway kill -9 mid-stream: model calls aborted, nothing stored, conversations go on', async (t) => {
  const sessions: Array<string | undefined> = [];
  // Three delivered turns each , then a fourth that the kill cuts mid-stream.
  await conversations('g', STREAMS, 3, sessions);
  stack.setFillerTokens(60);
  const cutTurn = Promise.all(
    Array.from({ length: STREAMS }, async (_, k) => {
      const outcome = await ask(stack.baseUrl, { mode: 'sse', conversation: `g${k}`, turn: 4, session: sessions[k] });
      outcomes.push(outcome);
      return outcome;
    }),
  );
  await waitFor('every stream to be generating', () => stack.openModelCalls().length >= STREAMS);
  await sleep(300);
  await stack.killGateway();
  const killedAt = Date.now();
  const cut = await cutTurn;
  t.same(
    cut.map((o) => o.kind),
    Array(STREAMS).fill('cut'),
    'every stream was cut',
  );
  // Each answer would run 6 s more: within a generous bounded wait, the fake must see every
  // connection closed early (`aborted`), not the answers run to their end.
  const aborted = await waitUntil(() => stack.openModelCalls().length === 0, 10_000);
  const orphans = stack.modelRequests().filter((r) => r.receivedAt < killedAt && (r.endedAt ?? Infinity) > killedAt);
  t.ok(aborted, 'no model call is left open');
  t.ok(
    orphans.every((r) => r.aborted),
    `the ${orphans.length} orphaned model calls were aborted, not run to their end`,
  );
  t.comment(
    `orphaned model calls closed within ${Math.max(...orphans.map((r) => (r.endedAt ?? 0) - killedAt))} ms of the kill`,
  );

  await stack.restartGateway();
  stack.setFillerTokens(4);
  // The conversations go on: turn 5 replays turns 1–3 only.
  await Promise.all(
    Array.from({ length: STREAMS }, async (_, k) => {
      const outcome = await ask(stack.baseUrl, { mode: 'sse', conversation: `g${k}`, turn: 5, session: sessions[k] });
      outcomes.push(outcome);
    }),
  );
  const r = await reconcile(stack, outcomes);
  t.comment(summary('gateway', r, `gateway kill -9 with ${STREAMS} streams open`));
  assertReconciled(t, r);
});
