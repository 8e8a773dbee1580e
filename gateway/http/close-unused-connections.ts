import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Tracks the server's connections so a closing gateway can also close those that never sent a
 * byte. Node 20 (and 22, 24 before nodejs/node#63452's fix) counts such a connection as active
 * from its accept, so neither `server.close()` (its `closeIdleConnections()`) nor the drain's
 * sweep (server.ts) closes it: `app.close()` waits until the client gives up. Clients do open
 * them: undici reconnects at once after an aborted request and keeps the new, unused connection
 * for the keep-alive time the gateway announces (72 s less 2); browsers preconnect.
 *
 * Only sockets that have read nothing are closed: a request head in progress, a response being
 * written, or an upgraded WebSocket all have. A request whose first bytes are still on their way
 * when the gateway closes is reset rather than answered 503: either way it goes elsewhere.
 */
export function trackUnusedConnections(server: Server): { closeUnused(): void } {
  const connections = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    // A request that asked for an upgrade the gateway does not offer comes again on its socket.
    if (connections.has(socket)) return;
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  return {
    closeUnused() {
      for (const socket of connections) if (socket.bytesRead === 0) socket.destroy();
    },
  };
}
