import type { Bus } from './bus.js';
import { systemClock, type Clock } from './clock.js';
import type { SignalLike } from './light-signal.js';

/** How long a request waits for a reconnecting bus: a cluster client moves within about a second. */
export const RECONNECT_WAIT_MS = 2000;

/**
 * Resolves true once `bus` is connected, or false after `ms`, when it is closed for good, or
 * when one of `until` aborts. A request that finds the bus reconnecting — its server died, and a
 * client of a cluster moves to a surviving node within about a second — waits this long instead
 * of failing at once.
 */
export function waitConnected(
  bus: Bus,
  ms: number,
  options: { clock?: Clock; until?: readonly SignalLike[] } = {},
): Promise<boolean> {
  if (bus.connected) return Promise.resolve(true);
  const until = options.until ?? [];
  if (bus.closed || ms <= 0 || until.some((signal) => signal.aborted)) return Promise.resolve(false);
  const clock = options.clock ?? systemClock;
  return new Promise((resolve) => {
    const stops: Array<() => void> = [];
    const end = (connected: boolean) => {
      for (const stop of stops.splice(0)) stop();
      resolve(connected);
    };
    const timer = clock.setTimeout(() => end(false), ms);
    stops.push(() => clock.clearTimeout(timer));
    stops.push(
      bus.onChange((changed) => {
        if (changed.connected || changed.closed) end(changed.connected);
      }),
    );
    for (const signal of until) {
      const onAbort = () => end(false);
      signal.addEventListener('abort', onAbort, { once: true });
      stops.push(() => signal.removeEventListener('abort', onAbort));
    }
  });
}
