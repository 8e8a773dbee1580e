import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { ChatDeps } from '../chat/start-chat.js';
import { bearerKeyOf, createKeyMatcher } from '../plugins/auth.js';
import { CLOSE_CODES, serveLiveSocket } from '../websocket/live-socket.js';

/** ws errors that ws itself answers with the right close code (1009 too big, 1007 bad UTF-8, …). */
const isProtocolError = (err: Error & { code?: string }) => typeof err.code === 'string' && err.code.startsWith('WS_ERR_');

/**
 * `GET /v1/ws`: live sessions over one WebSocket (docs/websocket.md). A client that can send
 * headers authenticates the upgrade with `Authorization: Bearer` (a wrong key is a plain 401
 * and no socket); a browser connects without one and sends an `auth` frame first, so the key
 * never appears in a URL, where proxies and access logs would keep it.
 */
export async function websocketRoutes(app: FastifyInstance, deps: ChatDeps): Promise<void> {
  const { config } = deps;
  const tenantFor = createKeyMatcher(config.apiKeys);
  const closers = new Set<(code: number, reason: string) => void>();

  // Before @fastify/websocket's own preClose (which closes without a code): clients learn why.
  app.addHook('preClose', async () => {
    for (const close of closers) close(CLOSE_CODES.goingAway, 'gateway shutting down');
  });
  await app.register(websocket, {
    // Frames are held whole in memory: the same limit as an HTTP body (ws closes with 1009 past it).
    options: { maxPayload: config.bodyLimitBytes },
    errorHandler(error: Error, socket: WebSocket, request: FastifyRequest) {
      if (isProtocolError(error)) {
        request.log.info({ code: (error as { code?: string }).code }, `WebSocket protocol error: ${error.message}`);
        return;
      }
      if ((error as NodeJS.ErrnoException).code === 'ECONNRESET') return;
      request.log.error({ err: error }, 'WebSocket handler failed');
      socket.close(CLOSE_CODES.internalError, 'internal error; see the gateway log');
    },
  });

  const authenticateUpgrade = async (request: FastifyRequest, _reply: FastifyReply) => {
    const header = request.headers.authorization;
    if (header === undefined) return; // the client authenticates with its first frame
    const key = bearerKeyOf(header);
    const tenant = key === undefined ? undefined : tenantFor(key);
    if (tenant === undefined) throw new AgentbusError('invalid_api_key', key === undefined ? 'Malformed Authorization header: send "Bearer <key>".' : 'Incorrect API key provided.');
    request.tenant = tenant;
  };

  app.route({
    method: 'GET',
    url: '/v1/ws',
    onRequest: authenticateUpgrade,
    // A plain HTTP GET (a browser tab, curl without upgrade headers) learns what to do instead.
    handler: async () => {
      throw new AgentbusError('upgrade_required', 'GET /v1/ws is a WebSocket endpoint: connect with a WebSocket client (see docs/websocket.md).');
    },
    wsHandler: (socket, request) => {
      const close = serveLiveSocket(socket, {
        chat: deps,
        tenantFor,
        tenant: request.tenant || undefined,
        log: request.log,
      });
      closers.add(close);
      socket.once('close', () => closers.delete(close));
    },
  });
}
