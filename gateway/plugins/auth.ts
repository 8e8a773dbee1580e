import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Id of the caller's API key (a hash prefix, never the key): owner of its sessions. */
    tenant: string;
  }
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/** The tenant id of a key: stable, not reversible, safe to put on the bus and in logs. */
export function tenantOf(key: string): string {
  return `key_${sha256(key).toString('hex').slice(0, 16)}`;
}

/**
 * An onRequest hook accepting `Authorization: Bearer <key>` for any of `keys`. Digests are
 * compared in constant time, and every key is compared, so timing reveals neither.
 */
export function bearerAuth(keys: readonly string[]) {
  const known = keys.map((key) => ({ digest: sha256(key), tenant: tenantOf(key) }));
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (!match?.[1]) throw new AgentbusError('invalid_api_key', 'Missing API key. Send "Authorization: Bearer <key>".');
    const presented = sha256(match[1].trim());
    let tenant: string | undefined;
    for (const entry of known) {
      if (timingSafeEqual(entry.digest, presented)) tenant = entry.tenant;
    }
    if (!tenant) throw new AgentbusError('invalid_api_key', 'Incorrect API key provided.');
    request.tenant = tenant;
  };
}
