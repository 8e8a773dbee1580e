/**
 * The first item a chain's engine yielded (read to know it works), then the rest as they come.
 * A consumer that stops early stops the engine too: its backend call is closed (espeak-ng
 * killed, the connection to a server closed). A plain iterator, not an async generator: each
 * later item is the engine's own `next()`, without a second generator step per token.
 */
export function replayFirst<T>(first: T, rest: AsyncIterator<T>): AsyncIterableIterator<T> {
  let replayed = false;
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next() {
      if (replayed) return rest.next();
      replayed = true;
      return Promise.resolve({ done: false, value: first });
    },
    // Called by `for await` only when the consumer stops early (a break, a throw): on an engine
    // that finished already, `return()` does nothing.
    return() {
      return rest.return?.() ?? Promise.resolve({ done: true, value: undefined });
    },
  };
}
