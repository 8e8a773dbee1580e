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
  return new WsPort(socket);
}

// A class, not an object literal with getters: a getter made per socket gets a map of its own,
// and V8 keeps such maps, and what their getters captured, until a full collection (call/call.ts).
class WsPort implements SocketPort {
  constructor(private readonly socket: WebSocket) {}

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  send(text: string, onSent?: (err?: Error) => void): void {
    this.socket.send(text, onSent);
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.socket.terminate();
  }

  ping(): void {
    this.socket.ping();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}
