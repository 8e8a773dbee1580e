import websocket from '@fastify/websocket';
import type { Server } from 'node:http';
import { websocketUpgradesOnly } from '../http/websocket-upgrades-only.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { Logger } from '../../common/logger.js';
import { withTimeout } from '../../common/timeout.js';
import { bearerKeyOf, refuseRepeatedAuthorization } from '../auth/bearer-auth.js';
import { admit, chargeInputBytes } from '../chat/admit.js';
import { startChatCall } from '../chat/start-chat.js';
import { storedTurnReader } from '../openai/stored-turn-reader.js';
import type { ChatDeps } from '../chat/types.js';
import { CLOSE_CODES, CLOSE_HANDSHAKE_MS, LiveSession } from './live-socket.js';
import { wsPort } from './socket-port.js';

/** The gateway's open live sessions, so a stopping gateway can drain them. */
export type LiveSessions = Set<LiveSession>;

/** ws errors that ws itself answers with the right close code (1009 too big, 1007 bad UTF-8, …). */
const isProtocolError = (err: Error & { code?: string }) =>
  typeof err.code === 'string' && err.code.startsWith('WS_ERR_');

/**
 * @fastify/websocket, registered on the root instance. It listens to every upgrade request of
 * the server, and only its root-level hooks close the socket of an upgrade request that ends
 * as plain HTTP (`/health`, a 404): registered in a child context, those sockets would leak.
 */
export async function registerWebsocketSupport(
  app: FastifyInstance,
  options: { maxPayloadBytes: number; drainTimeoutMs: number },
): Promise<LiveSessions> {
  const sessions: LiveSessions = new Set();
  // Before the plugin's own preClose (which closes without a code), so clients learn why. As
  // with HTTP responses, requests in flight may finish first (up to GATEWAY_DRAIN_TIMEOUT_MS)
  // while new ones are refused; then each socket closes, cancelling what is left. A peer that
  // never answers the close frame would hold the server open for ws's 30 s closing timeout: cut
  // those off after a second.
  app.addHook('preClose', async () => {
    const drained = Promise.all([...sessions].map((session) => session.drain()));
    await withTimeout(drained, options.drainTimeoutMs, () => undefined);
    for (const socket of app.websocketServer.clients) socket.close(CLOSE_CODES.goingAway, 'gateway shutting down');
    setTimeout(() => {
      for (const socket of app.websocketServer.clients) socket.terminate();
    }, CLOSE_HANDSHAKE_MS).unref();
  });
  // Other upgrades (h2c) are served as plain HTTP: the plugin sees WebSocket upgrades only.
  const websocketUpgrades = websocketUpgradesOnly(app.server) as unknown as Server;
  await app.register(websocket, {
    // Frames are held whole in memory: the same limit as an HTTP body (ws closes with 1009 past it).
    options: { maxPayload: options.maxPayloadBytes, server: websocketUpgrades },
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
  return sessions;
}

/**
 * A page on another site must not drive a user's gateway through their browser: WebSockets
 * are not covered by CORS, so the Origin a browser sends is checked here. Same origin (the
 * playground) and WS_ALLOWED_ORIGINS pass; clients that send no Origin (not browsers) too.
 */
function originAllowed(request: FastifyRequest, allowed: readonly string[]): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/**
 * `GET /v1/ws`: live sessions over one WebSocket (docs/websocket.md). A client that can send
 * headers authenticates the upgrade with `Authorization: Bearer` (a wrong key is a plain 401
 * and no socket); a browser connects without one and sends an `auth` frame first, so the key
 * never appears in a URL, where proxies and access logs would keep it.
 */
export async function websocketRoutes(app: FastifyInstance, deps: ChatDeps & { sessions: LiveSessions }) {
  const { config, keys } = deps;
  // The socket's peer decides whether the development key counts (loopback only).
  const callerOf = (request: FastifyRequest) => (key: string) => keys.callerFor(key, request.socket.remoteAddress);

  const checkUpgrade = async (request: FastifyRequest, _reply: FastifyReply) => {
    if (!originAllowed(request, config.wsAllowedOrigins)) {
      throw new AgentbusError(
        'origin_not_allowed',
        `WebSocket connections from ${request.headers.origin} are not allowed: ` +
          "only the gateway's own pages and WS_ALLOWED_ORIGINS may connect from a browser.",
      );
    }
    refuseRepeatedAuthorization(request);
    const header = request.headers.authorization;
    if (header === undefined) return; // the client authenticates with its first frame
    const key = bearerKeyOf(header);
    const caller = key === undefined ? undefined : callerOf(request)(key);
    if (caller === undefined)
      throw new AgentbusError(
        'invalid_api_key',
        key === undefined ? 'Malformed Authorization header: send "Bearer <key>".' : 'Incorrect API key provided.',
      );
    request.caller = caller;
    request.tenant = caller.tenant;
  };

  app.route({
    method: 'GET',
    url: '/v1/ws',
    onRequest: checkUpgrade,
    // A plain HTTP GET (a browser tab, curl without upgrade headers) learns what to do instead.
    handler: async (_request, reply) => {
      // RFC 9110, section 15.5.22: a 426 names the protocol to upgrade to.
      reply.header('upgrade', 'websocket');
      throw new AgentbusError(
        'upgrade_required',
        'GET /v1/ws is a WebSocket endpoint: connect with a WebSocket client (see docs/websocket.md).',
      );
    },
    wsHandler: (socket, request) => {
      const apiKey = request.caller ? bearerKeyOf(request.headers.authorization) : undefined;
      const session = new LiveSession({
        port: wsPort(socket),
        config,
        catalog: deps.catalog,
        startChat: (input, origin) => startChatCall(deps, input, origin),
        chargeBytes: (caller, bytes) => chargeInputBytes(deps, caller, bytes),
        // A frame's bytes were charged as it arrived: its admission counts none again.
        admit: (caller) => admit(deps, caller, 0),
        storedTurns: (tenant) => storedTurnReader(deps, tenant),
        callerFor: callerOf(request),
        caller: request.caller ?? undefined,
        apiKey,
        onKeysChange: (listener) => keys.onChange(listener),
        log: request.log as Logger,
      });
      deps.sessions.add(session);
      socket.on('message', (data: Buffer, isBinary: boolean) => session.receive(data, isBinary));
      socket.on('pong', () => session.pong());
      socket.on('close', (code: number) => {
        deps.sessions.delete(session);
        session.socketClosed(code);
      });
    },
  });
}
