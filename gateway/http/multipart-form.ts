import multipart, { type FastifyMultipartOptions } from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';

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

/** Registers @fastify/multipart: fields attached to the body, for the route's JSON Schema. */
export async function registerMultipartForm(
  app: FastifyInstance,
  limits: NonNullable<FastifyMultipartOptions['limits']>,
): Promise<void> {
  await app.register(multipart, { attachFieldsToBody: 'keyValues', limits, fileHwm: PART_BUFFER_BYTES });
}
