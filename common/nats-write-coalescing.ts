import type { Socket } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';

// nats.js keeps its socket private: protocol → transport → socket (NodeTransport). Read at each
// publish, since a reconnect replaces the transport. Undefined (another transport, a future
// nats.js) only means no coalescing.
function socketOf(nc: NatsConnection): Socket | undefined {
  const socket = (nc as unknown as { protocol?: { transport?: { socket?: Socket } } }).protocol?.transport?.socket;
  return socket && typeof socket.cork === 'function' && !socket.destroyed ? socket : undefined;
}

const coalesced = new WeakSet<NatsConnection>();

/**
 * Makes the publishes of one event-loop turn leave in one socket write. nats.js already joins
 * the publishes of one microtask run, but each frame of an answer, and each of many concurrent
 * requests, is published from its own I/O callback (an upstream chunk, an HTTP body), so under
 * load every publish was its own write(2) — the largest CPU cost of the worker in the profile
 * (BENCHMARKS.md, "Profile and optimisations"). The socket is corked at the first publish of a
 * turn and uncorked in that turn's check phase (setImmediate), after every ready I/O callback
 * ran. `publish` itself is unchanged: still synchronous, with its own errors (closed, draining,
 * max_payload) thrown at the caller, and nats.js's buffering and flushing as before.
 */
export function coalesceWrites(nc: NatsConnection): NatsConnection {
  if (coalesced.has(nc)) return nc;
  coalesced.add(nc);
  const publish = nc.publish.bind(nc);
  let corked: Socket | undefined;
  const uncork = () => {
    const socket = corked;
    corked = undefined;
    socket?.uncork();
  };
  nc.publish = (subject, payload, options) => {
    if (!corked) {
      const socket = socketOf(nc);
      if (socket) {
        socket.cork();
        corked = socket;
        setImmediate(uncork);
      }
    }
    publish(subject, payload, options);
  };
  // nats.js's close() destroys the socket without flushing it: what is still corked would be
  // lost, where plain nats.js would have written it already.
  const close = nc.close.bind(nc);
  nc.close = () => {
    uncork();
    return close();
  };
  return nc;
}
