import type { Bus } from '../../common/bus.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { RECONNECT_WAIT_MS, waitConnected } from '../../common/wait-connected.js';

/** How long one try waits for the worker's acknowledgement of a receipt. */
export const RECEIPT_ACK_WAIT_MS = 1000;
/** Pauses between tries: together about 8 s, inside the worker's wait (its deadline plus 10 s). */
export const RECEIPT_RETRY_PAUSES_MS: readonly number[] = [250, 500, 1000, 2000, 4000];

// Unref'd: a retry pending while the gateway stops must not hold its process open.
const sleep = (clock: Clock, ms: number) =>
  new Promise<void>((resolve) => (clock.setTimeout(resolve, ms) as Partial<NodeJS.Timeout>).unref?.());

/**
 * Sends a delivery receipt as a request and retries until the worker acknowledges it. A receipt
 * published into a NATS outage can vanish (the server died with it buffered, or the worker's inbox
 * was not yet resubscribed): the worker would then discard a turn its client received. Retries are
 * harmless: the worker's inbox takes one receipt, later copies find no responders. Never throws.
 * The acknowledgement comes back on an inbox in `inboxScope` (the agent's chat scope): a worker
 * user scoped to agents may answer only there.
 */
export async function sendReceipt(
  bus: Bus,
  replyTo: string,
  data: Uint8Array,
  clock: Clock = systemClock,
  inboxScope?: string,
) {
  for (let attempt = 0; attempt <= RECEIPT_RETRY_PAUSES_MS.length; attempt++) {
    if (attempt > 0) await sleep(clock, RECEIPT_RETRY_PAUSES_MS[attempt - 1]!);
    if (bus.closed) return;
    if (!(await waitConnected(bus, RECONNECT_WAIT_MS, { clock }))) continue;
    try {
      const ack = await bus.request(replyTo, data, {
        timeoutMs: RECEIPT_ACK_WAIT_MS,
        ...(inboxScope === undefined ? {} : { inboxScope }),
      });
      // What a bus without no-responders errors (the unit tests' fake) answers instead.
      if (!(ack.data.length === 0 && ack.headers?.code === 503)) return;
    } catch {
      // No ack (timeout), no responders (not resubscribed yet, or an earlier copy was taken),
      // or the bus failed: try again while the worker may still be waiting.
    }
  }
}
