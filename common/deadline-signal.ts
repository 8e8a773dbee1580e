import { systemClock, type Clock } from './clock.js';

/** A signal that aborts when its source does or its time is up; `dispose()` once the work is over. */
export interface DeadlineSignal {
  readonly signal: AbortSignal;
  /** Clears the timer and the listener on the source (the signal itself stays as it is). */
  dispose(): void;
}

/**
 * `source`, or `ms` passing, whichever comes first; the timeout's reason is a `TimeoutError`
 * DOMException, as `AbortSignal.timeout`'s. Not `AbortSignal.any([source, AbortSignal.timeout(ms)])`:
 * on Node 20 the timeout signal inside it is held only weakly, and once garbage collected it never
 * fires (nodejs/node#57736), so a deadline on a long task was silently lost.
 */
export function deadlineSignal(source: AbortSignal, ms: number, clock: Clock = systemClock): DeadlineSignal {
  const controller = new AbortController();
  const fromSource = () => controller.abort(source.reason);
  if (source.aborted) fromSource();
  else source.addEventListener('abort', fromSource, { once: true });
  const timer = clock.setTimeout(() => {
    controller.abort(new DOMException(`The operation timed out after ${ms} ms.`, 'TimeoutError'));
  }, ms);
  // The deadline of a task never keeps a process alive on its own: the task does.
  (timer as { unref?: () => void }).unref?.();
  return {
    signal: controller.signal,
    dispose() {
      clock.clearTimeout(timer);
      source.removeEventListener('abort', fromSource);
    },
  };
}
