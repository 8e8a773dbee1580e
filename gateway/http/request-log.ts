import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * One log line per HTTP request instead of fastify's two: "request completed" carries what
 * "incoming request" said (method, url, host, remote address, under `req`) beside the status
 * and time. Each line is a synchronous serialisation and a write, and at info level the two
 * request lines plus the trace line cost the gateway about a quarter of its CPU per chat
 * request (BENCHMARKS.md). A WebSocket upgrade never completes as an HTTP response, so it
 * keeps its "incoming request" line.
 */
export class OneLinePerRequest extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (request.headers.upgrade !== undefined) super.incomingRequest(request, reply, metadata);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
