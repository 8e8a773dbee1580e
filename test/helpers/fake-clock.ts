import type { Clock, TimerHandle } from '../../common/clock.js';

interface FakeTimer {
  id: number;
  at: number;
  every: number | undefined;
  callback: () => void;
}

/**
 * Lets promise callbacks queued by the code under test run, without letting time pass. Several
 * event-loop turns: a turn write waits one `setImmediate` for others to join its transaction
 * (workers/memory/group-commit.ts), and what follows it must have run too.
 */
export const settle = async (): Promise<void> => {
  for (let turn = 0; turn < 10; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/**
 * A {@link Clock} that only moves when the test says so. `advance(ms)` fires every timer due
 * in that span in time order, letting the promise callbacks each one queues run before the
 * next; nothing waits for real time.
 */
export class FakeClock implements Clock {
  #now: number;
  #timers: FakeTimer[] = [];
  #nextId = 1;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return this.#add(callback, ms, undefined);
  }

  setInterval(callback: () => void, ms: number): TimerHandle {
    return this.#add(callback, ms, Math.max(1, ms));
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    const id = (handle as unknown as { id: number }).id;
    this.#timers = this.#timers.filter((timer) => timer.id !== id);
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, firing what falls due, and lets the code under test react. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#timers.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.#now = next.at;
      if (next.every === undefined) this.#timers = this.#timers.filter((timer) => timer !== next);
      else next.at += next.every;
      next.callback();
      await settle();
    }
    this.#now = until;
    await settle();
  }

  #add(callback: () => void, ms: number, every: number | undefined): TimerHandle {
    const timer: FakeTimer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), every, callback };
    this.#timers.push(timer);
    return { id: timer.id } as unknown as TimerHandle;
  }
}
