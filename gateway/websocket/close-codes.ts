// The live socket's close codes and timings, in one place for the socket and the route that drains it.

/** Close codes the gateway uses (docs/websocket.md). 4xxx mirror the HTTP statuses they resemble. */
export const CLOSE_CODES = {
  /** The gateway is shutting down. */
  goingAway: 1001,
  /** A frame too big: over BODY_LIMIT_BYTES, or over 8 KiB before authentication. */
  tooBig: 1009,
  /** A bug in the gateway: see its log. */
  internalError: 1011,
  /** The reader fell more than WS_MAX_BUFFERED_BYTES behind (NATS calls this a slow consumer). */
  slowReader: 4008,
  /** The `auth` frame carried an unknown key. */
  authFailed: 4401,
  /** No `auth` frame within WS_AUTH_TIMEOUT_MS. */
  authTimeout: 4408,
} as const;

// A peer that never completes the closing handshake (the very reader that stopped reading, or
// any peer at shutdown) is cut off after this long.
export const CLOSE_HANDSHAKE_MS = 1000;
// Before authentication only `auth` and `ping` make sense: anything bigger is refused unread.
export const MAX_UNAUTHENTICATED_FRAME_BYTES = 8 * 1024;
