import t from 'tap';
import { RESTART_BACKOFF } from '../../scripts/lib/restart-backoff.js';
import {
  COMMIT_PAUSES_MS,
  COMMIT_WAIT_MS,
  QUICK_COMMIT,
  RECEIPT_ACK_WAIT_MS,
  RECEIPT_RETRY_PAUSES_MS,
  sendReceipt,
} from '../../gateway/call/send-receipt.js';
import { RECONNECT_WAIT_MS } from '../../common/wait-connected.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';

const RECEIPT = new TextEncoder().encode('{"v":2,"request_id":"r","delivered":true}');
const INBOX = '_INBOX.worker.receipt';
const COMMIT = 'agents.memory.commit';

function setup() {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  const seen: string[] = [];
  const commits: string[] = [];
  /** The worker's inbox: takes receipts, acknowledging them only when `ack` says so. */
  const worker = (ack: () => boolean) =>
    bus.subscribe(INBOX, {
      callback: (_err, msg) => {
        seen.push(new TextDecoder().decode(msg.data));
        if (ack() && msg.reply) bus.publish(msg.reply);
      },
    });
  /** Any worker of the memory queue group, committing what it is sent. */
  const memoryWorker = () =>
    bus.subscribe(COMMIT, {
      queue: 'memory',
      callback: (_err, msg) => {
        commits.push(new TextDecoder().decode(msg.data));
        if (msg.reply) bus.publish(msg.reply);
      },
    });
  const run = (sent: Promise<boolean>) => {
    let result: boolean | undefined;
    sent.then(
      (acknowledged) => (result = acknowledged),
      () => undefined,
    );
    return () => result;
  };
  return { clock, bus, seen, commits, worker, memoryWorker, run };
}

const TOTAL_MS = RECEIPT_RETRY_PAUSES_MS.reduce((sum, ms) => sum + ms + 1000, 1000);

t.test('an acknowledged receipt is sent once, and nothing else', async (t) => {
  const { bus, clock, seen, commits, worker, memoryWorker, run } = setup();
  worker(() => true);
  memoryWorker();
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  await clock.advance(0);
  t.equal(seen.length, 1);
  t.equal(done(), true, 'finished on the acknowledgement');
  t.same(commits, [], 'its own worker commits');
});

t.test('a stopping gateway still sends a receipt: its client has the answer', async (t) => {
  const { bus, clock, seen, worker, run } = setup();
  worker(() => true);
  // The drain deadline's walk: later requests fail at once, except those that outlive the stop.
  bus.failInboxes(new Error('stopping'));
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  await clock.advance(0);
  t.equal(seen.length, 1);
  t.equal(done(), true, 'acknowledged by its worker');
});

t.test('an unacknowledged receipt is sent again, a bounded number of times', async (t) => {
  const { bus, clock, seen, worker, run } = setup();
  worker(() => false);
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT }, clock));
  await clock.advance(TOTAL_MS + 1000);
  t.equal(seen.length, RECEIPT_RETRY_PAUSES_MS.length + 1, 'the first try and one per pause');
  t.equal(done(), false);
  t.equal(clock.pending, 0, 'no timer left behind');
});

t.test('a delivered answer its worker does not acknowledge in one try is committed by any worker', async (t) => {
  const { bus, clock, seen, commits, worker, memoryWorker, run } = setup();
  worker(() => false); // alive on the bus, but stopped (SIGSTOP): it never answers
  memoryWorker();
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  await clock.advance(RECEIPT_ACK_WAIT_MS - 1);
  t.same(commits, [], 'its own worker has one try first');
  await clock.advance(1);
  t.same(
    commits,
    [new TextDecoder().decode(RECEIPT)],
    "then the memory group commits it: the client's next message may be waiting for it",
  );
  await clock.advance(TOTAL_MS + COMMIT_WAIT_MS);
  t.equal(seen.length, RECEIPT_RETRY_PAUSES_MS.length + 1, 'its own worker still gets every try');
  t.equal(commits.length, 1, 'committed once');
  t.equal(done(), true);
});

t.test('a commit try handed to the silent worker itself is given up soon, and the next pick commits', async (t) => {
  const { bus, clock, commits, worker, run } = setup();
  worker(() => false);
  // The memory queue group includes the stalled worker: NATS hands it the first try.
  let picks = 0;
  bus.subscribe(COMMIT, {
    queue: 'memory',
    callback: (_err, msg) => {
      if (picks++ === 0) return;
      commits.push(new TextDecoder().decode(msg.data));
      if (msg.reply) bus.publish(msg.reply);
    },
  });
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  await clock.advance(RECEIPT_ACK_WAIT_MS + QUICK_COMMIT.waitMs);
  t.equal(picks, 2, 'tried again after a short wait');
  t.equal(commits.length, 1, "committed well within a follow-up's 2 s wait");
  await clock.advance(TOTAL_MS + COMMIT_WAIT_MS);
  t.equal(done(), true);
});

t.test('a quick commit lost with its worker is followed by the patient one at once', async (t) => {
  // A host lost with its NATS node: the receipts go unanswered, and so does each quick commit try.
  const { bus, clock, seen, commits, worker, run } = setup();
  worker(() => false);
  let picks = 0;
  bus.subscribe(COMMIT, {
    queue: 'memory',
    callback: (_err, msg) => {
      if (picks++ < QUICK_COMMIT.attempts) return;
      commits.push(new TextDecoder().decode(msg.data));
      if (msg.reply) bus.publish(msg.reply);
    },
  });
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  await clock.advance(RECEIPT_ACK_WAIT_MS + QUICK_COMMIT.attempts * QUICK_COMMIT.waitMs - 1);
  t.equal(picks, QUICK_COMMIT.attempts, 'every quick try went unanswered');
  t.same(commits, []);
  await clock.advance(1);
  t.equal(commits.length, 1, 'the patient commit followed, beside the tries of the worker');
  await clock.advance(TOTAL_MS + COMMIT_WAIT_MS);
  t.equal(seen.length, RECEIPT_RETRY_PAUSES_MS.length + 1, 'its own worker got every try');
  t.equal(commits.length, 1, 'committed once');
  t.equal(done(), true);
  t.equal(clock.pending, 0, 'no timer left behind');
});

t.test('a worker that takes its receipt after the quick commit failed needs no patient one', async (t) => {
  const { bus, clock, seen, worker, run } = setup();
  let acks = false;
  worker(() => acks);
  let picks = 0;
  bus.subscribe(COMMIT, { queue: 'memory', callback: () => void picks++ }); // never answers
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  await clock.advance(RECEIPT_ACK_WAIT_MS);
  acks = true; // back before the quick tries are over
  await clock.advance(TOTAL_MS + COMMIT_WAIT_MS);
  t.equal(done(), true);
  t.equal(seen.length, 2, 'acknowledged on the second try');
  t.equal(picks, QUICK_COMMIT.attempts, 'the quick tries only: nothing is asked after the acknowledgement');
  t.equal(clock.pending, 0, 'no timer left behind');
});

t.test('a receipt that never reached the bus is committed by any worker once it is back', async (t) => {
  const { bus, clock, seen, commits, worker, memoryWorker, run } = setup();
  worker(() => true);
  memoryWorker();
  bus.setConnected(false);
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  // Every try of the worker waits for the bus in vain; the bus is back during the first commit try's wait.
  const pauses = RECEIPT_RETRY_PAUSES_MS.reduce((sum, ms) => sum + ms, 0);
  await clock.advance(pauses + (RECEIPT_RETRY_PAUSES_MS.length + 1) * RECONNECT_WAIT_MS + RECONNECT_WAIT_MS / 2);
  t.equal(seen.length, 0);
  t.same(commits, []);
  bus.setConnected(true);
  await settle();
  await clock.advance(0);
  t.equal(commits.length, 1, 'the memory group commits it: the client has the answer');
  t.equal(done(), true);
});

t.test('a delivered answer whose worker is gone (no responders) is committed by another at once', async (t) => {
  const { bus, clock, seen, commits, memoryWorker, run } = setup();
  memoryWorker();
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  await clock.advance(0);
  t.equal(seen.length, 0);
  t.equal(commits.length, 1, 'no waiting for a worker killed between done and its commit');
  t.equal(done(), true);
});

t.test('an undelivered receipt keeps trying its worker: an inbox that appears late still gets it', async (t) => {
  const { bus, clock, seen, commits, worker, memoryWorker, run } = setup();
  memoryWorker();
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT }, clock));
  await clock.advance(0);
  t.equal(seen.length, 0, 'no responders yet (resubscribing after a reconnect)');
  worker(() => true);
  await clock.advance(RECEIPT_RETRY_PAUSES_MS[0]!);
  t.equal(seen.length, 1);
  t.same(commits, [], 'nothing to commit for a receipt without a commit subject');
  t.equal(done(), true);
});

t.test('during an outage it waits for the bus, and sends once it is back', async (t) => {
  const { bus, clock, seen, worker, run } = setup();
  worker(() => true);
  bus.setConnected(false);
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT }, clock));
  await clock.advance(500);
  t.equal(seen.length, 0);
  bus.setConnected(true);
  await settle();
  await clock.advance(0);
  t.equal(seen.length, 1);
  t.equal(done(), true);
});

t.test('a closed bus ends the tries', async (t) => {
  const { bus, clock, seen, run } = setup();
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  bus.closeNow();
  await clock.advance(TOTAL_MS);
  t.equal(seen.length, 0);
  t.equal(done(), false);
});

t.test('a delivered answer whose every worker is gone is committed by one back within the tries', async (t) => {
  // The only worker killed between its done and its commit: no responders anywhere until its
  // supervisor has it back, about 1.5 s later.
  const { bus, clock, seen, commits, memoryWorker, run } = setup();
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  await clock.advance(1500);
  t.same(commits, [], 'nobody to commit it yet');
  memoryWorker();
  const pauses = RECEIPT_RETRY_PAUSES_MS.reduce((sum, ms) => sum + ms, 0);
  await clock.advance(pauses);
  t.equal(seen.length, 0, 'its own inbox is gone');
  t.equal(commits.length, 1, 'the restarted worker commits it: the client has the answer');
  t.equal(done(), true);
  t.equal(clock.pending, 0, 'no timer left behind');
});

// Found by an attack: five crashes in a minute put `npm start`'s restart 8 s off, later 30 s; tries
// that ended after ~8 s left the turn its client had received pending, until the sweep deleted it.
t.test("the only worker back after its supervisor's longest wait still commits it", async (t) => {
  const { bus, clock, commits, memoryWorker, run } = setup();
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  // Killed at its done; its supervisor waits the longest backoff, and the start takes ~3 s more.
  await clock.advance(RESTART_BACKOFF.maxMs + 3000);
  t.same(commits, [], 'nobody to commit it yet');
  memoryWorker();
  await clock.advance(Math.max(...COMMIT_PAUSES_MS));
  t.equal(commits.length, 1, 'the restarted worker commits it: the client has the answer');
  t.equal(done(), true);
  t.equal(clock.pending, 0, 'no timer left behind');
});

t.test('the commit tries end when no worker ever comes back', async (t) => {
  const { bus, clock, commits, run } = setup();
  const done = run(sendReceipt(bus, { replyTo: INBOX, data: RECEIPT, commitSubject: COMMIT }, clock));
  await clock.advance(COMMIT_PAUSES_MS.reduce((sum, ms) => sum + ms, TOTAL_MS + COMMIT_WAIT_MS));
  t.same(commits, []);
  t.equal(done(), false);
  t.equal(clock.pending, 0, 'no timer left behind');
});
