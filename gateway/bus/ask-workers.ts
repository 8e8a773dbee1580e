import { errors, type NatsConnection } from '@nats-io/transport-node';
import { Svcm, type ServiceInfo, type ServiceStats } from '@nats-io/services';
import { WORKER_SERVICE_NAME } from '../../bus-schemas/index.js';

type Answer<K extends 'info' | 'stats'> = K extends 'info' ? ServiceInfo : ServiceStats;

function isNoResponders(err: unknown): boolean {
  return err instanceof errors.NoRespondersError || (err instanceof errors.RequestError && err.isNoResponders());
}

/**
 * The workers' `$SRV.INFO` or `$SRV.STATS`, from those answering within `timeoutMs` (`stallMs`:
 * done once answers stop coming for that long). No worker is an empty answer; `error` says why
 * when NATS could not be asked at all. Never throws, never waits much past `timeoutMs`.
 */
export async function askWorkers<K extends 'info' | 'stats'>(nc: NatsConnection, kind: K, options: { timeoutMs: number; stallMs?: number }): Promise<{ found: Array<Answer<K>>; error?: Error }> {
  const found: Array<Answer<K>> = [];
  const gather = (async () => {
    const client = new Svcm(nc).client({ strategy: 'stall', maxWait: options.timeoutMs, ...(options.stallMs !== undefined ? { stall: options.stallMs } : {}) });
    const answers = kind === 'info' ? await client.info(WORKER_SERVICE_NAME) : await client.stats(WORKER_SERVICE_NAME);
    for await (const answer of answers) found.push(answer as Answer<K>);
  })();
  let timer: NodeJS.Timeout | undefined;
  // The client's own limit should end it; this one holds even if the connection is stuck.
  const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, options.timeoutMs + 100); });
  try {
    await Promise.race([gather, deadline]);
    return { found: [...found] };
  } catch (err) {
    return isNoResponders(err) ? { found: [...found] } : { found: [...found], error: err as Error };
  } finally {
    clearTimeout(timer);
    gather.catch(() => undefined);
  }
}
