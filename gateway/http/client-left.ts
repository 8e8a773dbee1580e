import type { ServerResponse } from 'node:http';
import { readPendingHangUps } from '../call/pending-hang-ups.js';

/**
 * Whether the client of `raw` hung up, its hang-up read first if it already reached this machine
 * ({@link readPendingHangUps}): asked right before an answer's end is written.
 */
export async function clientLeftBeforeEnd(raw: ServerResponse): Promise<boolean> {
  await readPendingHangUps();
  const { socket } = raw;
  return raw.destroyed || !socket || socket.destroyed || socket.readableEnded;
}
