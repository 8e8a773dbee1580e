import type { ServiceInfo, ServiceStats } from '@nats-io/services';
import { inboxScopes, WORKER_SERVICE_NAME } from '../../bus-schemas/index.js';
import { isNoRespondersReply, type Bus, type BusSubscription } from '../../common/bus.js';

type Answer<K extends 'info' | 'stats'> = K extends 'info' ? ServiceInfo : ServiceStats;

/** nats.js's default for the stall strategy: done once answers stop coming for this long. */
const DEFAULT_STALL_MS = 300;

/**
 * The workers' `$SRV.INFO` or `$SRV.STATS`, from those answering within `timeoutMs` (`stallMs`:
 * done once answers stop coming for that long). No worker is an empty answer; `error` says why
 * when NATS could not be asked at all. Never throws, never waits much past `timeoutMs`.
 *
 * Asked on a reply subject of our own (random, {@link Bus.subscribeInbox}) rather than through the
 * services client: that one replies on nats.js's shared request inbox, whose name every worker
 * answering would learn, and the gateway's JetStream calls (rate limits) are answered on it too.
 */
export async function askWorkers<K extends 'info' | 'stats'>(
  bus: Bus,
  kind: K,
  options: { timeoutMs: number; stallMs?: number },
): Promise<{ found: Array<Answer<K>>; error?: Error }> {
  const found: Array<Answer<K>> = [];
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  let finish!: (error?: Error) => void;
  const finished = new Promise<Error | undefined>((resolve) => {
    finish = resolve;
  });
  let stallTimer: NodeJS.Timeout | undefined;
  const deadline = setTimeout(() => finish(), options.timeoutMs);
  let sub: BusSubscription | undefined;
  try {
    sub = bus.subscribeInbox(inboxScopes.services, (err, msg) => {
      if (err) return finish(err);
      // NATS's "no responders" status: nobody serves the subject, so no worker is running.
      if (isNoRespondersReply(msg)) return finish();
      try {
        found.push(JSON.parse(new TextDecoder().decode(msg.data)) as Answer<K>);
      } catch {
        // Not JSON: not a worker's answer; ignored like a missing one.
      }
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => finish(), stallMs);
    });
    bus.publish(`$SRV.${kind.toUpperCase()}.${WORKER_SERVICE_NAME}`, undefined, { reply: sub.getSubject() });
    const error = await finished;
    return error ? { found: [...found], error } : { found: [...found] };
  } catch (err) {
    return { found: [...found], error: err as Error };
  } finally {
    clearTimeout(deadline);
    clearTimeout(stallTimer);
    sub?.unsubscribe();
  }
}
