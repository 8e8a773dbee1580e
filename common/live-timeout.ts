import { systemClock, type Clock } from './clock.js';

/** A timer that fires this much later than asked means the event loop was busy, not the peer slow. */
export const STALL_TOLERANCE_MS = 50;
// A loop stalled again and again still ends the wait: at most this many extra periods.
const MAX_REARMS = 5;

/**
 * Like {@link withTimeout}, but only time the event loop was free counts. A timer that fires
 * late (the process itself was busy, e.g. parsing big bodies) starts another full period instead
 * of giving up: the answer may sit unread in a socket. A timer that fires on time still gives
 * pending I/O one more turn of the loop (a 0 ms timer runs after the poll phase) before `onTimeout`.
 * So a peer is called slow only when it had `ms` of a live loop to answer.
 */
export function withLiveTimeout<T, U>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => U,
  clock: Clock = systemClock,
): Promise<T | Awaited<U>> {
  let settled = false;
  const done = promise.then(
    (value) => {
      settled = true;
      return value;
    },
    (err: unknown) => {
      settled = true;
      throw err;
    },
  );
  done.catch(() => undefined);
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const late = new Promise<Awaited<U>>((resolve, reject) => {
    const expire = () => {
      if (settled) return;
      try {
        Promise.resolve(onTimeout()).then(resolve, reject);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const arm = (rearms: number) => {
      const due = clock.now() + ms;
      timer = clock.setTimeout(() => {
        if (settled) return;
        if (clock.now() - due > STALL_TOLERANCE_MS && rearms < MAX_REARMS) arm(rearms + 1);
        else timer = clock.setTimeout(expire, 0);
      }, ms);
    };
    arm(0);
  });
  return Promise.race([done, late]).finally(() => clock.clearTimeout(timer));
}
