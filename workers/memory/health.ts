import type { Kysely } from 'kysely';
import { systemClock, type Clock, type TimerHandle } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import { memoryProblemOf } from '../memory-errors.js';
import { prepareQuery } from './prepared-query.js';
import type { MemoryDatabase } from './schema.js';

/** Whether the worker's memory database can be written now, for requests and `/ready`. */
export interface MemoryHealth {
  /** Why it cannot be written; undefined when the last write worked. */
  readonly problem: string | undefined;
  /** A write of a request failed: the database counts as unwritable until a probe succeeds. */
  failed(err: unknown): void;
  /** Writes the probe row now and updates `problem`. Never throws. */
  probeNow(): Promise<void>;
  stop(): void;
}

const writeProbe = prepareQuery((db: Kysely<MemoryDatabase>, p: { at: string; worker: string }) =>
  db
    .insertInto('memory_probe')
    .values({ id: 1, checked_at: p.at, worker: p.worker })
    .onConflict((oc) => oc.column('id').doUpdateSet({ checked_at: p.at, worker: p.worker })),
);

/**
 * Checks, for real, that the memory database takes writes: at start and every `intervalMs` it
 * rewrites one row (a full disk or a read-only file fails that, where a read would succeed). A
 * request that meets a problem is refused before the model is asked, so no answer is streamed
 * that could not be kept; a change is logged once.
 */
export function watchMemory(
  db: Kysely<MemoryDatabase>,
  options: { intervalMs: number; worker: string; log: Logger; clock?: Clock },
): MemoryHealth {
  const clock = options.clock ?? systemClock;
  let problem: string | undefined;
  const set = (next: string | undefined) => {
    if (next === problem) return;
    if (next) options.log.error({ problem: next }, 'the memory database cannot be written: requests are refused');
    else options.log.info('the memory database takes writes again');
    problem = next;
  };
  // Without a periodic probe (intervalMs 0) nothing else would lift a problem: a request that meets
  // one has it probed again in the background (at most one probe a second), and the next one sees.
  let lastProbeAt = -Infinity;
  let probing = false;
  let stopped = false;
  const probeAgainSoon = () => {
    if (probing || stopped || clock.now() - lastProbeAt < 1000) return;
    probing = true;
    // probeNow never rejects.
    health
      .probeNow()
      .catch(() => undefined)
      .finally(() => (probing = false));
  };
  const health: MemoryHealth = {
    // eslint-disable-next-line no-restricted-syntax -- made once per worker process
    get problem() {
      if (problem !== undefined && options.intervalMs === 0) probeAgainSoon();
      return problem;
    },
    failed: (err) => set(memoryProblemOf(err)),
    async probeNow() {
      lastProbeAt = clock.now();
      try {
        await writeProbe.execute(db, { at: new Date(clock.now()).toISOString(), worker: options.worker });
        set(undefined);
      } catch (err) {
        set(memoryProblemOf(err));
      }
    },
    stop: () => {
      stopped = true;
      clock.clearTimeout(timer);
    },
  };
  const timer: TimerHandle | undefined =
    options.intervalMs > 0
      ? clock.setInterval(() => {
          // probeNow never rejects.
          health.probeNow().catch(() => undefined);
        }, options.intervalMs)
      : undefined;
  (timer as { unref?: () => void } | undefined)?.unref?.();
  return health;
}
