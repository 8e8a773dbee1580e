import type { ServerResponse } from 'node:http';
import { afterPendingHangUps } from '../call/pending-hang-ups.js';

/**
 * Whether the client of `raw` hung up, its hang-up read first if it already reached this machine
 * ({@link afterPendingHangUps}): asked right before an answer's end is written. A response pipelined
 * behind another on its connection has no socket of its own until that one ends (Node queues it):
 * its request's socket, the same connection, says whether the client is still there.
 */
export function clientLeftBeforeEnd(raw: ServerResponse): Promise<boolean> {
  return afterPendingHangUps(() => {
    const socket = raw.socket ?? raw.req?.socket;
    return raw.destroyed || !socket || socket.destroyed || socket.readableEnded;
  });
}
