/**
 * What code that only watches a signal reads of it: an AbortSignal fits, and so does a
 * {@link LightSignal}. Listeners are for 'abort' only, and run once.
 */
export interface SignalLike {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * An abort signal for code of our own that no platform API reads (fetch, timers and streams need
 * a real AbortSignal). An AbortController costs an EventTarget, its internal symbols and a
 * listener registry; a chat call needs several per request, so this keeps the same behaviour
 * in a plain object: listeners run synchronously at abort(), in the order they were added, once;
 * one removed by an earlier listener meanwhile does not run; adding the same one twice adds it
 * once; a listener that throws reaches `uncaughtException` without stopping the others.
 */
export class LightSignal implements SignalLike {
  #aborted = false;
  #reason: unknown = undefined;
  // Slots of removed listeners become undefined while abort() walks the list.
  #listeners: Array<(() => void) | undefined> | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** Aborts with `reason` (an AbortSignal's default DOMException when none), once. */
  abort(reason?: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    const listeners = this.#listeners;
    if (!listeners) return;
    // A listener added meanwhile is not called (its signal has aborted already, as on the platform).
    const count = listeners.length;
    for (let i = 0; i < count; i++) {
      const listener = listeners[i];
      if (!listener) continue;
      listeners[i] = undefined;
      try {
        listener();
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
    this.#listeners = undefined;
  }

  addEventListener(type: 'abort', listener: () => void): void {
    if (type !== 'abort' || this.#aborted) return;
    const listeners = (this.#listeners ??= []);
    if (!listeners.includes(listener)) listeners.push(listener);
  }

  removeEventListener(type: 'abort', listener: () => void): void {
    const listeners = this.#listeners;
    if (type !== 'abort' || !listeners) return;
    const index = listeners.indexOf(listener);
    if (index < 0) return;
    // While abort() walks the list, keep the indices where they are.
    if (this.#aborted) listeners[index] = undefined;
    else listeners.splice(index, 1);
  }
}
