import { systemClock, type Clock } from '../../common/clock.js';
import type { CallListener, CallSummary } from './observe.js';

/**
 * Counts the observed calls that have not yet reported their end (their trace line and metrics,
 * observe.ts), passing each event on to `inner` (the metrics). A closing gateway waits for them
 * before it closes the trace log: a stream cut at GATEWAY_DRAIN_TIMEOUT_MS ends only as its
 * connection is destroyed, after the server stopped, and its line would otherwise be dropped.
 */
export class OpenCalls implements CallListener {
  #open = 0;
  #waiting: Array<() => void> = [];

  constructor(
    private readonly inner?: CallListener,
    private readonly clock: Clock = systemClock,
  ) {}

  get open(): number {
    return this.#open;
  }

  opened(agent: string): void {
    this.#open++;
    this.inner?.opened(agent);
  }

  ended(summary: CallSummary): void {
    try {
      this.inner?.ended(summary);
    } finally {
      this.#open--;
      if (this.#open === 0) for (const wake of this.#waiting.splice(0)) wake();
    }
  }

  /** Resolves once no call is open, or after `limitMs` (a call nobody reads to its end never reports). */
  idle(limitMs: number): Promise<void> {
    if (this.#open === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.clock.clearTimeout(timer);
        resolve();
      };
      const timer = this.clock.setTimeout(done, limitMs);
      this.#waiting.push(done);
    });
  }
}
