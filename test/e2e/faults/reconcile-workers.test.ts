import Database from 'better-sqlite3';
import t from 'tap';
import { memoryDatabasePath } from '../../../workers/memory/database.js';
import {
  ask,
  assertReconciled,
  promptOf,
  reconcile,
  startChaosStack,
  summary,
  type Outcome,
} from '../../helpers/chaos.js';
import { sleep, waitFor } from '../../helpers/wait.js';

// Issue 16's worker faults, on real processes (nats-server, two workers, a gateway): kill -9 at
// random points, a kill with every token relayed and `done` not yet sent, SIGSTOP longer than
// the heartbeat window, clients leaving just before [DONE] — under conversations of 10 turns.
// Every client outcome is then reconciled against the turns table, /memory/last and the prompts
// the models were sent (test/helpers/chaos.ts). Bounded: a fixed list of faults, at most
// MAX_REQUESTS requests, each client request bounded by its own timeout.
const stack = await startChaosStack({ workers: 2 });
t.teardown(() => stack.close());

const MAX_REQUESTS = 600;
const CLIENTS = 10;
const outcomes: Outcome[] = [];
const faults: string[] = [];
let faulting = true;
const random = (min: number, max: number) => min + Math.floor(Math.random() * (max - min));

/** The worker whose fake Ollama received `prompt` last. */
const holderOf = (prompt: string) =>
  stack.workers.findIndex((w) => w.ollama.requests.some((r) => promptOf(r) === prompt && r.endedAt === undefined));

// Kill a worker once the client has every token but before `done`: memory's write lock is held
// meanwhile, so the worker cannot get past writing the turn before it dies — or, when it wrote the
// pending turn just before the lock was taken, past committing it after the receipt (which it then
// never acknowledges: another worker commits it). Armed by the fault loop, taken by the next
// streamed turn of any client.
let killBeforeDoneArmed = 0;
let killedBeforeDone: () => void = () => undefined;
async function killBetweenTokensAndDone(prompt: string): Promise<void> {
  const i = holderOf(prompt);
  if (i < 0) return killedBeforeDone();
  const lock = new Database(memoryDatabasePath(stack.dataDir), { timeout: 5000 });
  try {
    lock.exec('BEGIN IMMEDIATE');
    // The model finished: the worker now waits on the lock to write the turn, `done` unsent.
    const call = stack.workers[i]!.ollama.requests.findLast((r) => promptOf(r) === prompt);
    await waitFor('the model call to end', () => call?.endedAt !== undefined);
    await sleep(100);
    await stack.killWorker(i);
    lock.exec('ROLLBACK');
  } finally {
    lock.close();
  }
  faults.push('kill -9 before done');
  await stack.restartWorker(i);
  killedBeforeDone();
}

async function client(k: number): Promise<void> {
  for (let c = 0; faulting && outcomes.length < MAX_REQUESTS && c < 20; c++) {
    const name = `k${k}c${c}`;
    let session: string | undefined;
    for (let turn = 1; turn <= 10 && outcomes.length < MAX_REQUESTS; turn++) {
      const prompt = `${name} turn ${turn}`;
      const mode = (k + turn) % 3 === 0 ? 'json' : 'sse';
      const abortBeforeDone = mode === 'sse' && (k * 5 + turn) % 7 === 0;
      const killIt = mode === 'sse' && !abortBeforeDone && killBeforeDoneArmed > 0;
      if (killIt) killBeforeDoneArmed--;
      const outcome = await ask(stack.baseUrl, {
        mode,
        conversation: name,
        turn,
        session,
        abortBeforeDone,
        ...(killIt ? { onLastToken: () => killBetweenTokensAndDone(prompt) } : {}),
      });
      outcomes.push(outcome);
      if (outcome.kind === 'complete') session ??= outcome.session;
      // A user's pace, not a wait for anything.
      await sleep(150);
    }
  }
}

t.test('worker faults under 10-turn conversations: 0 lost, 0 duplicated, 0 phantom, 0 mismatched', async (t) => {
  const load = Promise.all(Array.from({ length: CLIENTS }, (_, k) => client(k)));
  await waitFor('the load to run', () => outcomes.filter((o) => o.kind === 'complete').length >= 10);
  // A fixed list of faults, each at a random moment of the load.
  for (let round = 0; round < 2; round++) {
    await sleep(random(200, 1000));
    const i = random(0, stack.workers.length);
    await stack.killWorker(i);
    faults.push('kill -9');
    await stack.restartWorker(i);

    await sleep(random(200, 1000));
    const j = random(0, stack.workers.length);
    stack.signalWorker(j, 'SIGSTOP');
    // Longer than the gateway's silence limit (1 s here): the worker is declared lost meanwhile.
    await sleep(2500);
    stack.signalWorker(j, 'SIGCONT');
    faults.push('SIGSTOP 2.5 s');

    // The next streamed turn of any client: its worker dies with the answer relayed and no done.
    const killed = new Promise<void>((resolve) => (killedBeforeDone = resolve));
    killBeforeDoneArmed++;
    await killed;
  }
  await sleep(1500);
  faulting = false;
  await load;
  const r = await reconcile(stack, outcomes);
  t.comment(summary('workers', r, faults.join(', ')));
  assertReconciled(t, r);
  t.ok(
    outcomes.some((o) => o.kind === 'complete' && o.mode === 'json'),
    'JSON answers completed',
  );
  t.ok(
    outcomes.some((o) => o.kind === 'aborted'),
    'clients left just before [DONE]',
  );
});
