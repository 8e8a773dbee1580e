import t from 'tap';
import { ask, assertReconciled, reconcile, startChaosStack, summary, type Outcome } from '../../helpers/chaos.js';
import { sleep, waitFor } from '../../helpers/wait.js';

// Issue 16's NATS faults on real processes: nats-server kill -9 and a restart on the same port,
// and nats-server SIGSTOP/SIGCONT (a hung server whose sockets stay open), each with answers in
// flight in conversations of up to 10 turns. Every client outcome is reconciled against the
// turns table, /memory/last and the prompts the models got (test/helpers/chaos.ts).
const stack = await startChaosStack({ workers: 2 });
t.teardown(() => stack.close());

const MAX_REQUESTS = 500;
const CLIENTS = 8;
const outcomes: Outcome[] = [];
const faults: string[] = [];
let faulting = true;

async function client(k: number): Promise<void> {
  for (let c = 0; faulting && outcomes.length < MAX_REQUESTS && c < 20; c++) {
    const name = `n${k}c${c}`;
    let session: string | undefined;
    for (let turn = 1; turn <= 10 && outcomes.length < MAX_REQUESTS; turn++) {
      const mode = (k + turn) % 3 === 0 ? 'json' : 'sse';
      const outcome = await ask(stack.baseUrl, { mode, conversation: name, turn, session });
      outcomes.push(outcome);
      if (outcome.kind === 'complete') session ??= outcome.session;
      // A user's pace (slower after a failure, as a retrying client backs off), not a wait for anything.
      await sleep(outcome.kind === 'complete' ? 150 : 400);
    }
  }
}

const completed = () => outcomes.filter((o) => o.kind === 'complete').length;
/** The load got answers again after a fault (the stack recovered with no restart). */
const recovered = async (what: string) => {
  const before = completed();
  await waitFor(`answers again after ${what}`, () => completed() >= before + 5, 30_000);
};

t.test('NATS kill -9 + restart and SIGSTOP/SIGCONT mid-answer: 0 lost, 0 phantom, 0 mismatched', async (t) => {
  const load = Promise.all(Array.from({ length: CLIENTS }, (_, k) => client(k)));
  await waitFor('the load to run', () => completed() >= 10);
  // One round of each: a NATS outage costs the whole stack seconds of reconnecting.
  for (let round = 0; round < 1; round++) {
    await waitFor('answers in flight', () => stack.openModelCalls().length >= 2);
    await stack.killNats();
    faults.push('NATS kill -9');
    // The outage's length is the scenario: long enough for reconnect attempts (every 0.5 s) to fail.
    await sleep(1500);
    await stack.restartNats();
    await recovered('the NATS restart');

    await waitFor('answers in flight', () => stack.openModelCalls().length >= 2);
    stack.nats.signal('SIGSTOP');
    // Longer than the gateway's silence limit (1 s): the answers in flight cannot complete.
    await sleep(3000);
    stack.nats.signal('SIGCONT');
    faults.push('NATS SIGSTOP 3 s');
    await recovered('SIGCONT');
  }
  faulting = false;
  await load;
  const r = await reconcile(stack, outcomes);
  t.comment(summary('nats', r, faults.join(', ')));
  assertReconciled(t, r);
  t.ok(
    outcomes.some((o) => o.kind !== 'complete'),
    'the faults cut answers',
  );
});
