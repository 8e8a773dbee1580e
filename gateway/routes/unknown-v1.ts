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
      throw new AgentbusError('unknown_url', `Unknown URL: ${request.method} ${request.url.split('?')[0]}`);
    },
  });
}
