import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest, preParsingHookHandler } from 'fastify';

const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * Sends `100 Continue` to a client that asked for it (`Expect: 100-continue`) only when its body
 * is about to be read: after every other preParsing hook (the key's rate limits and concurrency
 * cap, admit-before-body.ts) and after auth, and never for a body longer than the route takes.
 * A refused request is answered (401, 403, 413, 429) before the client sends its body, which is
 * what the header is for: curl sends it with every body over 1 MiB.
 */
function continueWhenAdmitted(request: FastifyRequest, reply: FastifyReply): void {
  if (request.headers.expect?.toLowerCase() !== '100-continue' || reply.raw.headersSent) return;
  // fastify answers a declared length over the limit with 413 without reading the body.
  if (Number(request.headers['content-length']) > request.routeOptions.bodyLimit) return;
  reply.raw.writeContinue();
}

const lastPreParsing: preParsingHookHandler = (request, reply, payload, done) => {
  continueWhenAdmitted(request, reply);
  done(null, payload);
};

/**
 * Node answers `Expect: 100-continue` itself as soon as the request's head arrives, before any
 * hook ran; with a `checkContinue` listener it leaves that to us. A route's own hooks run after
 * every instance's (fastify's order), so the one added to each route here runs last.
 */
export function continueWhenAdmittedOnEveryRoute(app: FastifyInstance): void {
  app.server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    app.server.emit('request', request, response);
  });
  app.addHook('onRoute', (route) => {
    route.preParsing = [...asList(route.preParsing), lastPreParsing];
  });
}
