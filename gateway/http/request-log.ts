import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * One log line per HTTP request instead of fastify's two: "request completed" carries what
 * "incoming request" said (method, url, host, remote address, under `req`) beside the status
 * and time. Each line is a synchronous serialisation and a write, and at info level the two
 * request lines plus the trace line cost the gateway about a quarter of its CPU per chat
 * request (BENCHMARKS.md). A WebSocket upgrade never completes as an HTTP response, so it
 * keeps its "incoming request" line.
 *
 * fastify writes "request completed" only when the response finishes (or errors). A request
 * whose connection closes first (a client that leaves mid-stream, or one that gives up on a
 * hung answer) would then leave no line naming its method, URL or caller's address, so that
 * case gets its own line, "request aborted before the response finished", with the same fields.
 */
export class OneLinePerRequest extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (request.headers.upgrade !== undefined) {
      super.incomingRequest(request, reply, metadata);
      return;
    }
    if (this.isLogDisabled(request)) return;
    const raw = reply.raw;
    raw.once('close', () => {
      // Finished: "request completed" has it. Errored: "request errored" has it.
      if (raw.writableFinished || raw.errored) return;
      reply.log.info(
        { req: request, res: reply, responseTime: reply.elapsedTime },
        'request aborted before the response finished',
      );
    });
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    if (error)
      reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
