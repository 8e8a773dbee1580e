import type { FastifyInstance } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';

/**
 * While the gateway drains (app.close(): open responses may finish, up to GATEWAY_DRAIN_TIMEOUT_MS),
 * a request that still arrives — on a kept-alive connection, or pipelined — gets the OpenAI
 * error shape: 503, `retry-after`, `x-should-retry: true` (the error handler adds both for a
 * retryable error) and `connection: close` (fastify sets it), so SDKs retry, on another
 * replica or once this one is back. fastify's own 503 has neither shape nor headers, so the app
 * turns it off (`return503OnClosing: false`) and this hook answers instead.
 */
export function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!closing) return;
    // Refused before @fastify/websocket's own hook marks it, an upgrade's socket (outside Node's
    // HTTP handling) would stay open and hold app.close() past the drain: closed once answered.
    if (request.headers.upgrade !== undefined) reply.raw.once('finish', () => request.raw.socket.destroy());
    throw new AgentbusError(
      'bus_unavailable',
      'The gateway is shutting down: it finishes the answers in progress but takes no new requests. ' +
        'Send this one again (to another replica, or once this one is back).',
    );
  });
}
