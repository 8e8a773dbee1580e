import multipart, { type FastifyMultipartOptions } from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';

/**
 * Each part's read buffer. busboy (3.2.6, the newest) resumes a part it skips (one without
 * `Content-Disposition: form-data`) with no reader, so what a write brings of it is buffered; past
 * the buffer's size (16 KiB by default) its parser waits for the part to ask for more. When the
 * same write also ends the form, the part ends without ever asking, busboy's end path never
 * resumes the parser, and the form never ends: the request hung with its socket and slot. Node
 * hands a body over in socket reads of at most 64 KiB, so no write fills 1 MiB: a skipped part
 * drains and the form ends without it (the route's schema then names what is missing).
 */
const PART_BUFFER_BYTES = 1024 * 1024;

const notReadInTime = (ms: number) =>
  new AgentbusError(
    'client_timeout',
    `The multipart/form-data body was not read whole within REQUEST_RECEIVE_TIMEOUT_MS (${ms} ms).`,
  );

/**
 * Registers @fastify/multipart (fields attached to the body, for the route's JSON Schema) with a
 * bound on reading the form: one not read whole `readTimeoutMs` after the request came is
 * answered 408 `client_timeout`, on a connection then closed (the rest of its body is never
 * read). Node's own request timeout stops once the bytes have arrived, so a parser stalled on a
 * body already received would hold the socket, the key's concurrency slot and a graceful
 * shutdown with no end.
 */
export async function registerMultipartForm(
  app: FastifyInstance,
  readTimeoutMs: number,
  limits: NonNullable<FastifyMultipartOptions['limits']>,
): Promise<void> {
  await app.register(multipart, { attachFieldsToBody: 'keyValues', limits, fileHwm: PART_BUFFER_BYTES });
  const deadlines = new WeakMap<FastifyRequest, NodeJS.Timeout>();
  app.addHook('onRequest', async (request, reply) => {
    const deadline = setTimeout(() => {
      if (reply.sent) return;
      // fastify's own handlerTimeout answers the same way, from outside the hooks still waiting.
      void reply.header('connection', 'close').send(notReadInTime(readTimeoutMs));
    }, readTimeoutMs);
    deadlines.set(request, deadline);
    reply.raw.once('close', () => clearTimeout(deadline));
  });
  // Added after @fastify/multipart's own preValidation hook, which reads the form: it ran to its end.
  app.addHook('preValidation', async (request) => {
    clearTimeout(deadlines.get(request));
  });
}
