import { systemClock, type Clock, type TimerHandle } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';

/** How often a worker sweeps again after its sweep at start: a left turn goes within minutes, not at a restart. */
export const PENDING_SWEEP_INTERVAL_MS = 10 * 60_000;

export interface PendingSweeps {
  /** Ends the sweep under way after its current step, and starts no other. */
  stop(): Promise<void>;
}

export interface PendingSweepOptions {
  /** One sweep (sweepPendingTurns), ending after its current step once `stop` is aborted. */
  sweep(stop: AbortSignal): Promise<number>;
  intervalMs?: number;
  clock?: Clock;
  /** From 0 to 1: where in ±25 % of `intervalMs` each wait falls (Math.random). */
  random?: () => number;
  log: Logger;
}

/**
 * Sweeps the pending turns dead workers left: once at once, then about `intervalMs` after each
 * sweep ends (never two at a time). A supervisor restarts a crashed worker in a moment, when what
 * it left is not yet old enough to sweep: the sweeps after start are what find it. Each wait is
 * spread over ±25 %, so workers started together do not read the table in step.
 */
export function startPendingSweeps(options: PendingSweepOptions): PendingSweeps {
  const { log, clock = systemClock, intervalMs = PENDING_SWEEP_INTERVAL_MS, random = Math.random } = options;
  const stop = new AbortController();
  let timer: TimerHandle | undefined;
  let running: Promise<void> = Promise.resolve();

  const sweepOnce = async () => {
    try {
      const swept = await options.sweep(stop.signal);
      if (swept > 0) log.info({ swept }, 'deleted pending turns left by a worker that stopped before their receipt');
    } catch (err) {
      log.warn({ err }, 'could not delete stale pending turns; the next sweep tries again');
    }
    if (!stop.signal.aborted) timer = clock.setTimeout(run, intervalMs * (0.75 + 0.5 * random()));
  };
  const run = () => {
    running = sweepOnce();
  };
  run();

  return {
    async stop() {
      stop.abort();
      clock.clearTimeout(timer);
      await running;
    },
  };
}
