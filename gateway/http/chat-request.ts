import type { FastifyReply, FastifyRequest } from 'fastify';
import { AgentbusError, ID_PATTERN } from '../../bus-schemas/index.js';
import { LightSignal } from '../../common/light-signal.js';
import type { Logger } from '../../common/logger.js';
import { startChatCall } from '../chat/start-chat.js';
import type { ChatDeps, ChatInput, ChatOrigin, StartedChat } from '../chat/types.js';
import { takeEarlyAdmission } from './admit-before-body.js';
import { hintsFromHeaders, singleHeader } from './request-hints.js';
import { keyRevocation } from './key-revocation.js';
import type { StreamRelayOptions } from './stream-relay.js';

/** A chat started over HTTP: also gives the options its streamed answer is relayed with. */
export interface HttpChat extends StartedChat {
  /**
   * What every stream relay of this chat takes, made here so no streamed route can forget one:
   * the session, the stall timeout, and a signal that aborts when the request's key stops being
   * valid (see {@link keyRevocation}), watched from the first call on. Only streams ask (a JSON
   * answer in flight still gets its answer). A method, not a getter: see `closedByClient` in call.ts.
   */
  streamOptions(): StreamRelayOptions;
}

const SESSION_ID = new RegExp(ID_PATTERN);

/** The `X-Session-ID` header, if sent: one value of the id's characters, or a 400 naming it. */
export function sessionHeader(request: FastifyRequest): string | undefined {
  const header = singleHeader(request.headers, 'x-session-id', 'X-Session-ID');
  if (header !== undefined && !SESSION_ID.test(header)) {
    throw new AgentbusError(
      'invalid_request',
      'X-Session-ID must be 1-128 characters of letters, digits, ".", "_", ":" or "-".',
      { param: 'X-Session-ID' },
    );
  }
  return header;
}

/**
 * The session to continue: `X-Session-ID`, or the legacy routes' body field; undefined starts a
 * new conversation. Both at once must agree.
 */
function sessionToContinue(request: FastifyRequest, fromBody: string | undefined): string | undefined {
  const header = sessionHeader(request);
  if (header !== undefined && fromBody !== undefined && header !== fromBody) {
    throw new AgentbusError(
      'invalid_request',
      "X-Session-ID and the body's session_id name different sessions; send one.",
      { param: 'session_id' },
    );
  }
  return header ?? fromBody;
}

/** Cache-Control: no-cache (or no-store) asks for a fresh answer. */
function wantsFreshAnswer(request: FastifyRequest): boolean {
  const header = request.headers['cache-control'];
  return typeof header === 'string' && /(^|,)\s*no-(cache|store)\s*(,|$)/i.test(header);
}

/**
 * {@link startChatCall} for an HTTP route: the session comes from `X-Session-ID` (or the legacy
 * body field), trace context from `traceparent`, a cache refresh from `Cache-Control`, hints
 * from `X-Priority`, `X-Private` and the timeout headers. However the response ends, the call is
 * closed (a no-op once it ended), which frees the key's slot.
 */
export async function startHttpChat(
  deps: ChatDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  input: ChatInput,
  options: { sessionId?: string | undefined; laterCalls?: number } = {},
): Promise<HttpChat> {
  const incomingTrace = request.headers['traceparent'];
  // Routing may wait for the classifier: a client leaving meanwhile must stop it, and everything after.
  const left = new LightSignal();
  const onClose = () => {
    if (!reply.raw.writableFinished) left.abort();
  };
  reply.raw.once('close', onClose);
  let chat: StartedChat;
  try {
    const origin: ChatOrigin = {
      caller: request.caller,
      // fastify's request logger is the app's pino logger's child, made for this request.
      log: request.log as Logger,
      ownLog: request.log !== request.server.log,
      sessionToContinue: sessionToContinue(request, options.sessionId),
      traceparent: typeof incomingTrace === 'string' ? incomingTrace : undefined,
      refreshCache: wantsFreshAnswer(request),
      hints: hintsFromHeaders(request.headers),
      pathAgent: request.pathAgent,
      signal: left,
      laterCalls: options.laterCalls,
    };
    // Taken after everything above that can throw: startChatCall owns it from here.
    origin.admission = await takeEarlyAdmission(request);
    chat = await startChatCall(deps, input, origin);
  } finally {
    reply.raw.off('close', onClose);
  }
  reply.raw.once('close', () => chat.call.close('client closed the connection'));
  // Both loggers the handlers use carry the request's ids from here on.
  request.log = reply.log = chat.log;
  // On the reply now, so an error answered before any streaming starts carries them too.
  reply.headers(chat.headers);
  let revoked: AbortSignal | undefined;
  return {
    ...chat,
    streamOptions: () => ({
      sessionId: chat.sessionId,
      stallTimeoutMs: deps.config.requestTimeoutMs,
      revoked: (revoked ??= keyRevocation(deps.keys, request, reply)),
    }),
  };
}
