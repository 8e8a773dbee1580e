import { inboxScopes } from '../../bus-schemas/index.js';
import { isNoRespondersError, isNoRespondersReply, type Bus } from '../../common/bus.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { RECONNECT_WAIT_MS, waitConnected } from '../../common/wait-connected.js';

/** How long one try waits for the worker's acknowledgement of a receipt. */
export const RECEIPT_ACK_WAIT_MS = 1000;
/** Pauses between tries: together about 8 s, inside the worker's wait (its deadline plus 10 s). */
export const RECEIPT_RETRY_PAUSES_MS: readonly number[] = [250, 500, 1000, 2000, 4000];
/** Tries of the commit by any worker, each waiting this long for its answer. */
export const COMMIT_ATTEMPTS = 3;
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
    const reply = await bus.request(subject, data, { timeoutMs, ...(inboxScope ? { inboxScope } : {}) });
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
 * Never throws; true once a worker acknowledged it.
 */
export async function sendReceipt(bus: Bus, target: ReceiptTarget, clock: Clock = systemClock): Promise<boolean> {
  let committedElsewhere = false;
  for (let attempt = 0; attempt <= RECEIPT_RETRY_PAUSES_MS.length; attempt++) {
    if (attempt > 0) await sleep(clock, RECEIPT_RETRY_PAUSES_MS[attempt - 1]!);
    if (bus.closed) return false;
    if (!(await waitConnected(bus, RECONNECT_WAIT_MS, { clock }))) continue;
    const outcome = await ask(bus, target.replyTo, target.data, RECEIPT_ACK_WAIT_MS, target.inboxScope);
    if (outcome === 'acknowledged') return true;
    if (!target.commitSubject) continue;
    // Gone: it took an earlier copy, died, or has not resubscribed yet; any worker can commit now.
    if (outcome === 'gone') return commitElsewhere(bus, target.commitSubject, target.data, clock);
    // Silent (stopped, or its loop stalled): the client's next message may already wait for this
    // turn (for up to 2 s), so another worker commits it now; its own still gets the receipt.
    if (!committedElsewhere) committedElsewhere = await commitElsewhere(bus, target.commitSubject, target.data, clock);
  }
  return committedElsewhere;
}

async function commitElsewhere(bus: Bus, subject: string, data: Uint8Array, clock: Clock): Promise<boolean> {
  for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
    if (attempt > 0) await sleep(clock, RECEIPT_RETRY_PAUSES_MS[attempt - 1]!);
    if (bus.closed) return false;
    if (!(await waitConnected(bus, RECONNECT_WAIT_MS, { clock }))) continue;
    if ((await ask(bus, subject, data, COMMIT_WAIT_MS, inboxScopes.memory)) === 'acknowledged') return true;
  }
  return false;
}
