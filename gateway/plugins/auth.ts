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
 * Maps a presented key to its tenant, or undefined. Digests are compared in constant time,
 * and every key is compared, so timing reveals neither which key nor how much matched.
 */
export function createKeyMatcher(keys: readonly string[]): (presentedKey: string) => string | undefined {
  const known = keys.map((key) => ({ digest: sha256(key), tenant: tenantOf(key) }));
  return (presentedKey) => {
    const presented = sha256(presentedKey);
    let tenant: string | undefined;
    for (const entry of known) {
      if (timingSafeEqual(entry.digest, presented)) tenant = entry.tenant;
    }
    return tenant;
  };
}

/** The key of an `Authorization: Bearer <key>` header, or undefined when there is none. */
export function bearerKeyOf(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec((header ?? '').trim());
  return match?.[1]?.trim() || undefined;
}

/** An onRequest hook accepting `Authorization: Bearer <key>` for any of `keys`. */
export function bearerAuth(keys: readonly string[]) {
  const tenantFor = createKeyMatcher(keys);
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const key = bearerKeyOf(request.headers.authorization);
    if (!key) throw new AgentbusError('invalid_api_key', 'Missing API key. Send "Authorization: Bearer <key>".');
    const tenant = tenantFor(key);
    if (!tenant) throw new AgentbusError('invalid_api_key', 'Incorrect API key provided.');
    request.tenant = tenant;
  };
}
