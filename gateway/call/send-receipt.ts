import { inboxScopes } from '../../bus-schemas/index.js';
import { isNoRespondersError, isNoRespondersReply, type Bus } from '../../common/bus.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { RECONNECT_WAIT_MS, waitConnected } from '../../common/wait-connected.js';

/** How long one try waits for the worker's acknowledgement of a receipt. */
export const RECEIPT_ACK_WAIT_MS = 1000;
/** Pauses between tries: together about 8 s, inside the worker's wait (its deadline plus 10 s). */
export const RECEIPT_RETRY_PAUSES_MS: readonly number[] = [250, 500, 1000, 2000, 4000];
/**
 * Pauses between tries of the commit by any worker: the receipt's, then every 4 s, about 44 s in
 * all. When every worker is gone (the only one, as `npm start` runs, killed between its `done` and
 * its commit), each try finds no responders at once; the tries must outlast its supervisor's
 * longest wait before a restart (30 s, `RESTART_BACKOFF` in scripts/lib/restart-backoff.ts: a
 * worker in a crash loop) and its start, or the client's turn stays pending until the sweep.
 */
export const COMMIT_PAUSES_MS: readonly number[] = [...RECEIPT_RETRY_PAUSES_MS, ...Array<number>(9).fill(4000)];
/** Each commit try waits this long for its answer. */
export const COMMIT_WAIT_MS = 2000;

/** Where a receipt goes: the worker's inbox, and for a delivered answer the fallback subject. */
export interface ReceiptTarget {
  replyTo: string;
  data: Uint8Array;
  /** The inbox scope of the acknowledgement (the agent's chat scope: a scoped worker may answer only there). */
  inboxScope?: string | undefined;
  /** `<prefix>.memory.commit`, for a delivered answer: any worker commits it if its own cannot. */
  commitSubject?: string | undefined;
}

type Try = 'acknowledged' | 'gone' | 'silent';

const sleep = (clock: Clock, ms: number) =>
  // Unref'd: a retry pending while the gateway stops must not hold its process open.
  new Promise<void>((resolve) => (clock.setTimeout(resolve, ms) as Partial<NodeJS.Timeout>).unref?.());

async function ask(bus: Bus, subject: string, data: Uint8Array, timeoutMs: number, inboxScope?: string): Promise<Try> {
  try {
    // The client has its answer: a stopping gateway still tells the worker to keep it.
    const asked = { timeoutMs, outlivesStop: true, ...(inboxScope ? { inboxScope } : {}) };
    const reply = await bus.request(subject, data, asked);
    // A status reply is what a bus without no-responders errors (the unit tests' fake) answers.
    return isNoRespondersReply(reply) ? 'gone' : 'acknowledged';
  } catch (err) {
    return isNoRespondersError(err) ? 'gone' : 'silent';
  }
}

/**
 * Sends a delivery receipt as a request and retries until the worker acknowledges it. A receipt
 * published into a NATS outage can vanish (the server died with it buffered, or the worker's inbox
 * was not yet resubscribed): the worker would then discard a turn its client received. Retries are
 * harmless: the worker's inbox takes one receipt, later copies find no responders. A delivered
 * answer whose worker is gone (no responders), or silent for one try, goes to `commitSubject`,
 * where any worker commits the pending turn; committing twice, or after a discard, changes nothing.
 * The quick commit beside the retries may fall into the same outage as they do (a host lost with
 * its NATS node): the patient commit then follows it.
 * Never throws; true once a worker acknowledged it.
 */
export async function sendReceipt(bus: Bus, target: ReceiptTarget, clock: Clock = systemClock): Promise<boolean> {
  // Started after the worker's first silent try, beside the tries that go on.
  let elsewhere: Promise<boolean> | undefined;
  let acknowledged = false;
  for (let attempt = 0; attempt <= RECEIPT_RETRY_PAUSES_MS.length; attempt++) {
    if (attempt > 0) await sleep(clock, RECEIPT_RETRY_PAUSES_MS[attempt - 1]!);
    if (bus.closed) return (await elsewhere) ?? false;
    if (!(await waitConnected(bus, RECONNECT_WAIT_MS, { clock }))) continue;
    const outcome = await ask(bus, target.replyTo, target.data, RECEIPT_ACK_WAIT_MS, target.inboxScope);
    if (outcome === 'acknowledged') {
      acknowledged = true;
      return true;
    }
    if (!target.commitSubject) continue;
    // Gone: it took an earlier copy, died, or has not resubscribed yet; any worker can commit now.
    if (outcome === 'gone') return elsewhere ?? commitElsewhere(bus, target.commitSubject, target.data, clock);
    // Silent (stopped, or its loop stalled): the client's next message may already wait for this
    // turn (up to 2 s), so another worker commits it now, while its own keeps getting the receipt.
    // When those quick tries fall into the same outage (a host lost with its NATS node), the patient ones follow.
    const subject = target.commitSubject;
    elsewhere ??= commitElsewhere(bus, subject, target.data, clock, QUICK_COMMIT).then(
      // Unless the worker took its receipt meanwhile.
      (committed) => committed || acknowledged || commitElsewhere(bus, subject, target.data, clock),
    );
  }
  // No try reached the bus (an outage throughout): any worker may still commit it once it is back.
  return target.commitSubject ? (elsewhere ?? commitElsewhere(bus, target.commitSubject, target.data, clock)) : false;
}

interface CommitTries {
  attempts: number;
  waitMs: number;
  pausesMs: readonly number[];
}

const PATIENT_COMMIT: CommitTries = {
  attempts: COMMIT_PAUSES_MS.length + 1,
  waitMs: COMMIT_WAIT_MS,
  pausesMs: COMMIT_PAUSES_MS,
};
// The memory queue group holds the silent worker too, and NATS picks a member at random: a try
// handed to it is given up soon, so that a later pick commits within the follow-up's 2 s wait. With
// two workers, four tries all go to the stalled one once in 16, eight once in 256. A healthy
// worker slower than a try's wait still commits; the next try finds it done.
export const QUICK_COMMIT: CommitTries = { attempts: 8, waitMs: 125, pausesMs: [0, 0, 0, 0, 0, 0, 0] };

async function commitElsewhere(
  bus: Bus,
  subject: string,
  data: Uint8Array,
  clock: Clock,
  tries: CommitTries = PATIENT_COMMIT,
): Promise<boolean> {
  for (let attempt = 0; attempt < tries.attempts; attempt++) {
    if (attempt > 0) await sleep(clock, tries.pausesMs[attempt - 1] ?? 0);
    if (bus.closed) return false;
    if (!(await waitConnected(bus, RECONNECT_WAIT_MS, { clock }))) continue;
    if ((await ask(bus, subject, data, tries.waitMs, inboxScopes.memory)) === 'acknowledged') return true;
  }
  return false;
}
