import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AgentbusError } from '../../bus-schemas/index.js';

// How long a refused body may still be read, and dropped, after the 413.
const LINGER_MS = 10_000;

/**
 * Reads the rest of a refused body and drops it, so the connection stays usable. A client that sends
 * its whole body before reading the answer (undici, so fetch and the openai SDK) sees the 413 only so:
 * a connection closed under unread data is reset, and the answer with it ("Connection error", EPIPE).
 * Past LINGER_MS (a slow or endless sender) the connection is closed all the same.
 */
function readOnAfterRefusal(raw: IncomingMessage): void {
  const timer = setTimeout(() => raw.socket?.destroy(), LINGER_MS);
  timer.unref();
  raw.once('close', () => clearTimeout(timer));
  // Flowing with no reader: each chunk is dropped. Node would do it only for a body nothing read yet.
  raw.resume();
}

/**
 * Stops the form parser reading `raw`, failed with `refusal`: @fastify/multipart tears its parse down on
 * the request's 'error' (busboy unpiped, the part being read failed), so its hook settles, not waiting
 * for a body it will never get. Emitted, not destroyed: the socket must stay open to drop the rest.
 */
function stopParsing(raw: IncomingMessage, refusal: AgentbusError): void {
  raw.unpipe();
  // With no parser listening, an 'error' emitted would be thrown.
  if (raw.listenerCount('error') > 0) raw.emit('error', refusal);
}

/**
 * A preParsing hook for an upload route whose parser reads the raw request (@fastify/multipart,
 * which reads a body to its end before it answers an oversized file's 413, however large): a body
 * over `largestBytes` gets `tooLarge()`. One declaring a longer Content-Length is refused before its
 * body is read; a chunked one (no length) as soon as what arrived passes the bound, its parser
 * stopped. Either way the rest is dropped as it comes, for LINGER_MS at most.
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
      const refusal = tooLarge();
      if (!reply.sent) void reply.send(refusal);
      stopParsing(raw, refusal);
      readOnAfterRefusal(raw);
    };
    // Paused first: a 'data' listener alone would start the flow before the parser pipes it (the pipe resumes it).
    raw.pause();
    raw.on('data', count);
  };
}
