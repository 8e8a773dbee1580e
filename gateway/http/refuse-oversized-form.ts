import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AgentbusError } from '../../bus-schemas/index.js';

/** Answers `refusal` on a connection then closed: the rest of the body is never read. */
function refuse(reply: FastifyReply, refusal: AgentbusError): void {
  if (!reply.sent) void reply.header('connection', 'close').send(refusal);
}

// How long a body refused by its declared length may still be read, and dropped, after the 413.
const LINGER_MS = 10_000;

/**
 * Node drops the rest of an unread body once the answer is sent, so the connection stays usable. A client
 * that sends its whole body before reading the answer (undici, so the openai SDK) sees the 413 only so:
 * a connection closed under unread data is reset, and the answer with it ("Connection error").
 * Past LINGER_MS (a slow or endless sender) the connection is closed all the same.
 */
function readOnAfterRefusal(raw: IncomingMessage): void {
  const timer = setTimeout(() => raw.socket?.destroy(), LINGER_MS);
  timer.unref();
  raw.once('close', () => clearTimeout(timer));
}

/**
 * A preParsing hook for an upload route whose parser reads the raw request (@fastify/multipart,
 * which reads a body to its end before it answers an oversized file's 413, however large): a body
 * over `largestBytes` gets `tooLarge()`. One declaring a longer Content-Length is refused before its
 * body is read (the rest is dropped as it comes); a chunked one (no length) as soon as what arrived
 * passes the bound, on a connection then closed, since Node would read it to its end.
 */
export function refuseOversizedForm(largestBytes: number, tooLarge: () => AgentbusError) {
  return async function refuseOversized(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const declared = Number(request.headers['content-length']);
    if (declared > largestBytes) {
      readOnAfterRefusal(request.raw);
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
