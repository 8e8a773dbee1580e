import type { FastifyInstance } from 'fastify';

/** `GET /health`: liveness of the gateway process itself (no auth, no dependencies checked). */
export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/health', async () => ({
    status: 'healthy',
    service: 'agentbus-gateway',
    timestamp: new Date().toISOString(),
  }));
}
