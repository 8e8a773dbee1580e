/**
 * Messages from a callback, read one at a time with `next()`: the inbox's subscription pushes,
 * the reader awaits. `fail` ends every read with an error (deadline, cancel).
 */
export class FrameQueue<T> {
  #items: T[] = [];
  #waiting: { resolve(value: T): void; reject(err: Error): void } | undefined;
  #failure: { error: Error } | undefined;

  push(item: T): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) waiting.resolve(item);
    else this.#items.push(item);
  }

  fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = { error };
    this.#waiting?.reject(error);
    this.#waiting = undefined;
  }

  next(): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure.error);
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise<T>((resolve, reject) => (this.#waiting = { resolve, reject }));
  }
}
