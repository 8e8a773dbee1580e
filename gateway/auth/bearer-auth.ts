import type { FastifyReply, FastifyRequest } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { Caller } from './caller.js';
import type { KeyStore } from './key-store.js';
import { tenantOfKey } from './keys-file.js';
import { headerLines } from '../http/header-lines.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Id of the caller's API key (a hash prefix, never the key): owner of its sessions. */
    tenant: string;
    /** What the request's API key proves (set by {@link bearerAuth}; absent on routes without a key). */
    caller: Caller;
  }
}

/**
 * The tenant id of a key: stable, not reversible, safe to put on the bus and in logs
 * (the key store's own derivation).
 */
export const tenantOf = tenantOfKey;

/** The key of an `Authorization: Bearer <key>` header, or undefined when there is none. */
export function bearerKeyOf(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec((header ?? '').trim());
  return match?.[1]?.trim() || undefined;
}

/** A 400 for more than one Authorization line: Node keeps the first, a proxy in front may have checked another. */
export function refuseRepeatedAuthorization(request: FastifyRequest): void {
  if (headerLines(request.raw.rawHeaders, 'authorization') > 1)
    throw new AgentbusError('invalid_request', 'The request sends more than one Authorization header; send one.', {
      param: 'Authorization',
    });
}

/**
 * An onRequest hook accepting `Authorization: Bearer <key>` for any key of `keys` (API_KEYS,
 * the keys file as it is now): sets `request.caller` and `request.tenant`. A revoked key, and
 * the development key from another machine, get the same answer as an unknown one.
 */
export function bearerAuth(keys: Pick<KeyStore, 'callerFor'>) {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    refuseRepeatedAuthorization(request);
    const key = bearerKeyOf(request.headers.authorization);
    if (!key) throw new AgentbusError('invalid_api_key', 'Missing API key. Send "Authorization: Bearer <key>".');
    // The socket's peer, not X-Forwarded-For: the dev key must not be unlocked by a header.
    const caller = keys.callerFor(key, request.socket.remoteAddress);
    if (!caller) throw new AgentbusError('invalid_api_key', 'Incorrect API key provided.');
    request.caller = caller;
    request.tenant = caller.tenant;
  };
}
