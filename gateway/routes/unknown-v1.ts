import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';

/** The 404 of a URL no route serves, naming its method and path (not its query). */
export const unknownUrl = (request: FastifyRequest) =>
  new AgentbusError('unknown_url', `Unknown URL: ${request.method} ${request.url.split('?')[0]}`);

/**
 * Every other URL under `/v1/`, registered where the key is checked: a bad key gets 401 before
 * anyone learns which routes exist, as OpenAI answers. OPTIONS stays with CORS preflights.
 */
export async function unknownV1Routes(app: FastifyInstance): Promise<void> {
  const refuse = async (request: FastifyRequest) => {
    // A parametric route (`/v1/responses/:id`) refuses an overlong segment before routing; the
    // wildcard then matches instead, so the refusal is said here, as errors.ts words it.
    const maxParamLength = app.initialConfig.maxParamLength ?? 100;
    if (
      request.url
        .split('?')[0]!
        .split('/')
        .some((segment) => segment.length > maxParamLength)
    )
      throw new AgentbusError('uri_too_long', 'A path segment of the URL is too long.');
    throw unknownUrl(request);
  };
  app.route({
    method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/v1/*',
    // Before the body is read (after the key's check): no URL here takes one, so an empty,
    // malformed or oversized body is no 400 or 413 that hides the 404, as outside /v1/.
    onRequest: refuse,
    handler: refuse,
  });
}
