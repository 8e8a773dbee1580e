import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest, preParsingHookHandler } from 'fastify';

const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

// What Node hands to `checkContinue` (node:_http_server): the token anywhere in the header.
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;
// Read by @fastify/multipart under its own limits (transcription-routes.ts refuses an oversized one).
const MULTIPART = /^multipart\//i;

/**
 * Sends `100 Continue` to a client that asked for it (`Expect: 100-continue`) only when its body
 * is about to be read: after every other preParsing hook (the key's rate limits and concurrency
 * cap, admit-before-body.ts) and after auth, and not for a body that fastify refuses unread as
 * longer than the route's limit. A refused request is answered (401, 403, 413, 429) before the
 * client sends its body, which is what the header is for: curl sends it with every body over 1 MiB.
 */
function continueWhenAdmitted(request: FastifyRequest, reply: FastifyReply): void {
  const expect = request.headers.expect;
  if (expect === undefined || !CONTINUE.test(expect) || reply.raw.headersSent) return;
  // fastify answers a declared length over bodyLimit with 413 unread, for the parsers it reads for (JSON).
  const readByFastify = !MULTIPART.test(request.headers['content-type'] ?? '');
  if (readByFastify && Number(request.headers['content-length']) > request.routeOptions.bodyLimit) return;
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
