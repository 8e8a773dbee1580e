import { ReleasingMap, ReleasingSet } from '../common/releasing-map.js';

/**
 * The answers a worker is producing: awaited when it drains, and abortable by request id (a
 * cancel from the requester) or all at once (shutdown past the drain timeout).
 */
export class InFlight {
  // A set per id: a redelivered request may run twice at once, and a cancel is meant for both.
  // Releasing maps: an entry per request in a table that lives as long as the worker.
  readonly #byRequest = new ReleasingMap<string, Set<AbortController>>();
  readonly #work = new ReleasingSet<Promise<unknown>>();

  /** Number of answers still running. */
  get size(): number {
    return this.#work.size;
  }

  /** Counts `work` as in flight until it settles. */
  track(work: Promise<unknown>): void {
    const remove = this.#work.add(work);
    work
      .finally(remove)
      // Only the count is kept here: whoever made `work` handles its failure.
      .catch(() => undefined);
  }

  /**
   * Registers a request; its signal aborts on `cancel(requestId)`, `abortAll()` or its own `abort()`
   * (this entry alone: another attempt of the same id may be running here too). Call `leave()` when done.
   */
  enter(requestId: string): { signal: AbortSignal; abort(reason: Error): void; leave(): void } {
    const controller = new AbortController();
    const entries = this.#byRequest.get(requestId) ?? new Set();
    entries.add(controller);
    this.#byRequest.set(requestId, entries);
    return {
      signal: controller.signal,
      abort: (reason) => controller.abort(reason),
      leave: () => {
        entries.delete(controller);
        if (entries.size === 0) this.#byRequest.delete(requestId);
      },
    };
  }

  /** Aborts the request with this id, if this worker holds it. */
  cancel(requestId: string, reason: Error): void {
    for (const controller of this.#byRequest.get(requestId) ?? []) controller.abort(reason);
  }

  /** Aborts every registered request. */
  abortAll(reason: Error): void {
    for (const entries of this.#byRequest.values()) for (const controller of entries) controller.abort(reason);
  }

  /** Resolves once every tracked answer has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#work.values()]);
  }
}
