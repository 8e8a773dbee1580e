import type { SocketPort } from './socket-port.js';

/**
 * A socket's received frames, handled one at a time and in order. While any waits (for its byte
 * charge, say) the socket is not read, so a client sending faster than that queues in TCP, not in
 * the gateway's memory.
 */
export class FrameInbox {
  #tail: Promise<void> = Promise.resolve();
  #waiting = 0;

  constructor(
    private readonly port: Pick<SocketPort, 'pause' | 'resume'>,
    private readonly take: (data: Buffer, isBinary: boolean) => Promise<void>,
    private readonly onFailure: (err: unknown) => void,
  ) {}

  push(data: Buffer, isBinary: boolean): void {
    if (this.#waiting++ === 0) this.port.pause();
    this.#tail = this.#tail
      .then(() => this.take(data, isBinary))
      .catch(this.onFailure)
      .finally(() => {
        if (--this.#waiting === 0) this.port.resume();
      });
  }
}
