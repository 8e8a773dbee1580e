import { randomUUID } from 'node:crypto';
import { encodeJson, PROTOCOL_VERSION, WORKER_BEAT_MS } from '../bus-schemas/index.js';
import type { Bus } from '../common/bus.js';
import { systemClock, type Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';

export interface WorkerBeatOptions {
  bus: Bus;
  /** A beat subject per agent this worker serves (`Subjects.workerBeat`; a scoped credential: its own only). */
  subjects: readonly string[];
  /** The micro service id, as in ack frames. */
  worker: string;
  log: Logger;
  clock?: Clock;
}

/**
 * Tells the gateways every {@link WORKER_BEAT_MS} that this worker serves its agents, so a request
 * it has not read yet (a burst queued in its socket) is waited for rather than declared lost at
 * the silence limit (docs/bus.md, "Worker beats"). Returns the stop, which sends a last beat
 * marked `leaving`: requests not yet read by then are not waited for.
 */
export function startWorkerBeat(options: WorkerBeatOptions): () => void {
  const { bus, worker, log, subjects } = options;
  const clock = options.clock ?? systemClock;
  // New with each connection: what was published to the old one before it dropped is lost.
  let connection = randomUUID();
  let wasConnected = bus.connected;
  let warned = false;

  const beat = (leaving: boolean) => {
    if (!bus.connected || bus.closed) return;
    const data = encodeJson({ v: PROTOCOL_VERSION, worker, connection, ...(leaving ? { leaving } : {}) });
    try {
      for (const subject of subjects) bus.publish(subject, data);
    } catch (err) {
      // Without beats the gateways only wait less (the silence limit, as before): say it once.
      if (!warned) log.warn({ err }, 'cannot publish worker beats; gateways fall back to the silence limit alone');
      warned = true;
    }
  };
  const unwatch = bus.onChange((state) => {
    if (state.connected && !wasConnected) {
      connection = randomUUID();
      beat(false);
    }
    wasConnected = state.connected;
  });
  beat(false);
  const timer = clock.setInterval(() => beat(false), WORKER_BEAT_MS);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clock.clearTimeout(timer);
    unwatch();
    beat(true);
  };
}
