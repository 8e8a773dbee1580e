import type { FastifyRequest } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The setting a route's own `bodyLimit` comes from (EMBEDDINGS_BODY_LIMIT_BYTES); unset: BODY_LIMIT_BYTES. */
    bodyLimitName?: string;
  }
}

/** A request's body limit: the route's own (embeddings) or BODY_LIMIT_BYTES, with the setting that sets it. */
export function bodyLimitOf(request: FastifyRequest): { bytes: number; name: string } {
  return {
    bytes: request.routeOptions.bodyLimit,
    name: request.routeOptions.config.bodyLimitName ?? 'BODY_LIMIT_BYTES',
  };
}

/** The 413 of a body over its route's limit, naming the setting to raise. `decoded`: it was compressed. */
export function bodyTooLarge(request: FastifyRequest, decoded = false): AgentbusError {
  const { bytes, name } = bodyLimitOf(request);
  return new AgentbusError(
    'request_too_large',
    `The request body is larger than ${name} (${bytes} bytes) allows${decoded ? ' once decompressed' : ''}.`,
  );
}
