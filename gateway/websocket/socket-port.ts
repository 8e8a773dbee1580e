import type { WebSocket } from 'ws';

/**
 * What a live session needs of its WebSocket. The session speaks to this, not to `ws`, so its
 * state machine can be unit-tested with a fake port; {@link wsPort} adapts a real socket.
 */
export interface SocketPort {
  readonly open: boolean;
  /** Bytes queued but not yet sent. */
  readonly bufferedAmount: number;
  /** Sends `text`; `onSent` hears when it was written to the socket, or why it was not. */
  send(text: string, onSent?: (err?: Error) => void): void;
  close(code: number, reason: string): void;
  terminate(): void;
  ping(): void;
  /** Stops reading frames (TCP holds what the peer sends meanwhile) until {@link resume}. */
  pause(): void;
  resume(): void;
}

/** The port of a `ws` socket. */
export function wsPort(socket: WebSocket): SocketPort {
  return {
    get open() {
      return socket.readyState === socket.OPEN;
    },
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    send: (text, onSent) => socket.send(text, onSent),
    close: (code, reason) => socket.close(code, reason),
    terminate: () => socket.terminate(),
    ping: () => socket.ping(),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  };
}
