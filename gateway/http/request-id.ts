import type { FastifyInstance, FastifyReply } from 'fastify';
import { randomBytesPooled } from '../../common/random-bytes.js';

/** fastify's id of an HTTP request (the log's `reqId`): `req_` and 32 hex digits, as OpenAI's. */
export const newHttpRequestId = (): string => `req_${randomBytesPooled(16).toString('hex')}`;

/** Puts the request's id on `reply` unless a call has named it already (`chatcmpl-…`, `embd-…`). */
export function nameReply(reply: FastifyReply): void {
  if (!reply.hasHeader('x-request-id')) reply.header('x-request-id', reply.request.id);
}

/**
 * Every answer names its request in `X-Request-ID`, as OpenAI's do and the SDKs read (`request_id`,
 * an error's `requestID`): fastify's id, found in the gateway's log as `reqId`, until the call it
 * starts names itself once admitted. A 401, a 404 or a schema's 400 is then findable in the log too.
 */
export function nameEveryRequest(app: FastifyInstance): void {
  app.addHook('onRequest', (_request, reply, done) => {
    nameReply(reply);
    done();
  });
}
