import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AgentbusError } from '../../bus-schemas/index.js';

/** Answers `refusal` on a connection then closed: the rest of the body is never read. */
function refuse(reply: FastifyReply, refusal: AgentbusError): void {
  if (!reply.sent) void reply.header('connection', 'close').send(refusal);
}

/**
 * A preParsing hook for an upload route whose parser reads the raw request (@fastify/multipart,
 * which reads a body to its end before it answers an oversized file's 413, however large): a body
 * over `largestBytes` gets `tooLarge()` on a connection then closed. One declaring a longer
 * Content-Length is refused unread; a chunked one (no length) as soon as what arrived passes the
 * bound, since Node stops only a declared length.
 */
export function refuseOversizedForm(largestBytes: number, tooLarge: () => AgentbusError) {
  return async function refuseOversized(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const declared = Number(request.headers['content-length']);
    if (declared > largestBytes) {
      void reply.header('connection', 'close');
      throw tooLarge();
    }
    if (request.headers['content-length'] !== undefined) return;
    const raw = request.raw;
    let arrived = 0;
    const count = (chunk: Buffer) => {
      arrived += chunk.length;
      if (arrived <= largestBytes) return;
      raw.off('data', count);
      // The parser's pipe would resume a merely paused request when it drains.
      raw.unpipe();
      raw.pause();
      refuse(reply, tooLarge());
    };
    // Paused first: a 'data' listener alone would start the flow before the parser pipes it (the pipe resumes it).
    raw.pause();
    raw.on('data', count);
  };
}
