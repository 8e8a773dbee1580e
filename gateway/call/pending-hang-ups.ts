/**
 * Lets the event loop read what the kernel already holds before an answer's end is written, then
 * resolves with `look()`. A client that left while the loop was busy (a loaded machine) has its
 * hang-up unread when the worker's `done` arrives: written then, the end goes into a socket nobody
 * reads, the write succeeds, and the turn would be committed for a client that never got it. The
 * `done` is handled in the loop's poll phase; an immediate runs after the rest of that phase's
 * reads, hang-ups too. One promise per answer: this runs on every answer's path.
 */
export function afterPendingHangUps<T>(look: () => T): Promise<T> {
  return new Promise((resolve) => setImmediate(() => resolve(look())));
}

const nothing = () => undefined;

/** {@link afterPendingHangUps} for a transport that then learns of the hang-up by itself (a WebSocket). */
export function readPendingHangUps(): Promise<void> {
  return afterPendingHangUps(nothing);
}
