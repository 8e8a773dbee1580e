import type { ChildProcess } from 'node:child_process';
import { RestartBackoff } from './restart-backoff.js';

/** One run of a supervised process. */
export interface Incarnation {
  readonly process: ChildProcess;
  /** Stops it gracefully (SIGTERM, SIGKILL after a bound) and waits for the exit. */
  stop(): Promise<unknown>;
}

export interface ProcessSpec<T extends Incarnation> {
  /** How the log lines name it: `worker`, `gateway`, `nats-server`. */
  name: string;
  /**
   * Starts one incarnation and resolves once it serves. `restarts` counts the restarts before
   * this one (0: the first start); `signal` aborts a start still in progress (the stack stops).
   */
  start(restarts: number, signal: AbortSignal): Promise<T>;
}

export interface Supervised<T extends Incarnation> {
  /** The incarnation that last became ready (it may have exited since, and be waiting for its restart). */
  readonly current: T;
  /** Restarts so far (attempts that failed to become ready included). */
  readonly restarts: number;
  /** Stops restarting, aborts a restart in progress, and stops the current incarnation. */
  stop(): Promise<void>;
}

export interface SuperviseOptions<T> {
  say: (line: string) => void;
  /** Called when a restart became ready. */
  restarted?(incarnation: T, restarts: number): void;
  /**
   * The stack is stopping: no more restarts (a crash now is no crash), and any start in
   * progress, the first one included, is aborted. `stop()` still stops the process.
   */
  signal?: AbortSignal;
  backoff?: RestartBackoff;
  now?: () => number;
  /** Runs `fn` after `ms`; the returned function cancels it (tests fire them by hand). */
  setTimer?: (fn: () => void, ms: number) => () => void;
}

const realTimer = (fn: () => void, ms: number) => {
  const timer = setTimeout(fn, ms);
  return () => clearTimeout(timer);
};

/** "code 1", "signal SIGKILL": how a process ended, for a log line. */
const howItEnded = (code: number | null, signal: NodeJS.Signals | null) =>
  signal ? `signal ${signal}` : `code ${code}`;

/**
 * Starts a process and keeps it running: when it exits on its own it is started again after a
 * backoff (0.5 s doubling to 30 s, back to 0.5 s once it ran a stable minute), each crash and
 * restart logged, while the rest of the stack keeps serving. The first start is not retried:
 * it rejects, so a stack that cannot start says why and stops.
 */
export async function supervise<T extends Incarnation>(
  spec: ProcessSpec<T>,
  options: SuperviseOptions<T>,
): Promise<Supervised<T>> {
  const { say } = options;
  const now = options.now ?? Date.now;
  const backoff = options.backoff ?? new RestartBackoff();
  const setTimer = options.setTimer ?? realTimer;
  const abort = new AbortController();
  options.signal?.addEventListener('abort', () => abort.abort(), { once: true });
  if (options.signal?.aborted) abort.abort();
  let current = await spec.start(0, abort.signal);
  let startedAt = now();
  let restarts = 0;
  // Once the stack stops (the signal) or this process is stopped, an exit is no crash.
  const halted = () => abort.signal.aborted;
  let cancelTimer = () => {};
  let restarting: Promise<void> | undefined;

  const schedule = (delayMs: number) => {
    cancelTimer = setTimer(() => {
      restarting = restart().finally(() => {
        restarting = undefined;
      });
    }, delayMs);
  };
  const watch = (incarnation: T) =>
    incarnation.process.once('exit', (code, signal) => {
      if (halted()) return;
      const { attempt, delayMs } = backoff.next(now() - startedAt);
      say(
        `${spec.name} (pid ${incarnation.process.pid}) exited unexpectedly (${howItEnded(code, signal)}); ` +
          `restarting it in ${delayMs / 1000} s (attempt ${attempt}); the rest of the stack keeps running`,
      );
      schedule(delayMs);
    });
  // Never rejects: a failed attempt schedules the next one.
  const restart = async () => {
    if (halted()) return;
    restarts++;
    try {
      const incarnation = await spec.start(restarts, abort.signal);
      if (halted()) {
        await incarnation.stop();
        return;
      }
      current = incarnation;
      startedAt = now();
      watch(incarnation);
      options.restarted?.(incarnation, restarts);
    } catch (err) {
      if (halted()) return;
      const { attempt, delayMs } = backoff.next(0);
      say(
        `${spec.name} did not come back: ${(err as Error).message.split('\n')[0]}; ` +
          `trying again in ${delayMs / 1000} s (attempt ${attempt})`,
      );
      schedule(delayMs);
    }
  };
  watch(current);

  return {
    get current() {
      return current;
    },
    get restarts() {
      return restarts;
    },
    async stop() {
      cancelTimer();
      abort.abort();
      await restarting;
      await current.stop();
    },
  };
}
