import { systemClock, type Clock } from './clock.js';

/**
 * `promise`, or — once `ms` passed first — what `onTimeout` returns (or throws). The loser of
 * the race may still settle later; its rejection is then ignored, never an unhandled one.
 */
export function withTimeout<T, U>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => U,
  clock: Clock = systemClock,
): Promise<T | Awaited<U>> {
  promise.catch(() => undefined);
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const late = new Promise<Awaited<U>>((resolve, reject) => {
    timer = clock.setTimeout(() => {
      try {
        Promise.resolve(onTimeout()).then(resolve, reject);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    }, ms);
  });
  return Promise.race([promise, late]).finally(() => clock.clearTimeout(timer));
}
