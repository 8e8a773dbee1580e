/**
 * The first item a chain's engine yielded (read to know it works), then the rest as they come.
 * A consumer that stops early stops the engine too: its backend call is closed (espeak-ng
 * killed, the connection to a server closed).
 */
export async function* replayFirst<T>(first: T, rest: AsyncIterator<T>): AsyncGenerator<T> {
  let finished = false;
  try {
    yield first;
    for (;;) {
      const next = await rest.next();
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!finished) await rest.return?.();
  }
}
