import type { FastifyInstance } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';

/**
 * Every other URL under `/v1/`, registered where the key is checked: a bad key gets 401 before
 * anyone learns which routes exist, as OpenAI answers. OPTIONS stays with CORS preflights.
 */
export async function unknownV1Routes(app: FastifyInstance): Promise<void> {
  app.route({
    method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/v1/*',
    handler: async (request) => {
      // A parametric route (`/v1/models/:model`) refuses an overlong segment before routing; the
      // wildcard then matches instead, so the refusal is said here, as errors.ts words it.
      const maxParamLength = app.initialConfig.maxParamLength ?? 100;
      if (
        request.url
          .split('?')[0]!
          .split('/')
          .some((segment) => segment.length > maxParamLength)
      )
        throw new AgentbusError('uri_too_long', 'A path segment of the URL is too long.');
      throw new AgentbusError('unknown_url', `Unknown URL: ${request.method} ${request.url.split('?')[0]}`);
    },
  });
}
