import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../common/logger.js';
import type { CallOrigin } from '../chat/types.js';
import { takeEarlyAdmission } from './admit-before-body.js';
import { hintsFromHeaders } from './request-hints.js';

/**
 * The request's caller, logger, trace context, hints and path agent, and its early admission, now
 * the call's; the headers it announces go on `reply` at once.
 */
export async function callOriginOf(request: FastifyRequest, reply: FastifyReply): Promise<CallOrigin> {
  const incomingTrace = request.headers['traceparent'];
  return {
    caller: request.caller,
    log: request.log as Logger,
    traceparent: typeof incomingTrace === 'string' ? incomingTrace : undefined,
    hints: hintsFromHeaders(request.headers),
    pathAgent: request.pathAgent,
    admission: await takeEarlyAdmission(request),
    announce: (headers) => void reply.headers(headers),
  };
}

/**
 * Aborts, with `reason()`, when the client closes the connection before the response finished:
 * the call stops its work on the worker instead of holding a slot for nobody.
 */
export function clientLeaving(reply: FastifyReply, reason: () => unknown): AbortSignal {
  const left = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) left.abort(reason());
  });
  return left.signal;
}
