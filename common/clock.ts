/**
 * Time as the state machines see it. Injected, so a unit test moves time forward instead of
 * sleeping ("refill is tested by moving `now`, never by sleeping"); production uses
 * {@link systemClock}.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` once after `ms`; the handle goes to {@link Clock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Calls `callback` every `ms` until cleared. */
  setInterval(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer of either kind; undefined is ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** An opaque timer handle (Node's Timeout in production). */
export type TimerHandle = { readonly __timer: unique symbol } | NodeJS.Timeout;

/** The real clock: Date.now and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};
