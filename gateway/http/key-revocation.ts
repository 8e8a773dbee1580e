import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeyStore } from '../auth/key-store.js';
import { bearerKeyOf } from '../auth/bearer-auth.js';

/**
 * A signal that aborts when the keys file stops accepting the request's key (revoked, or the
 * dev key once a key exists) while its response is still open: the key store tells every
 * listener after each reload (within about a second of the change), and the key is looked up
 * again then, as an open WebSocket's is — and once at the start, for a reload since the request
 * was authenticated (a body sent slowly, routing). Stops listening when the response closes.
 */
export function keyRevocation(
  keys: Pick<KeyStore, 'onChange' | 'callerFor'>,
  request: FastifyRequest,
  reply: FastifyReply,
): AbortSignal {
  const revoked = new AbortController();
  const key = bearerKeyOf(request.headers.authorization);
  if (key === undefined) return revoked.signal;
  const peer = request.socket.remoteAddress;
  const check = () => {
    if (keys.callerFor(key, peer) === undefined) revoked.abort('API key revoked');
  };
  const stop = keys.onChange(check);
  reply.raw.once('close', stop);
  revoked.signal.addEventListener('abort', stop, { once: true });
  check();
  return revoked.signal;
}
