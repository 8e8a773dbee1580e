import { finished, Transform, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import { bodyLimitOf, bodyTooLarge } from './body-limit.js';

// The codings a JSON body may arrive in (RFC 9110's names; x-gzip is gzip's old alias). A Map, so
// a header like "constructor" finds nothing.
const DECODERS = new Map<string, () => Transform>([
  ['gzip', createGunzip],
  ['x-gzip', createGunzip],
  ['deflate', createInflate],
  ['br', createBrotliDecompress],
]);
const ACCEPTED = 'gzip, deflate, br';

/** The body's codings, `identity` left out: "gzip" → ["gzip"], "" or "identity" → []. */
function codingsOf(header: string): string[] {
  return header
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

/** Whether the body comes compressed: its decoded size is known only once it is read. */
export function isEncoded(request: FastifyRequest): boolean {
  const header = request.headers['content-encoding'];
  return header !== undefined && codingsOf(header).length > 0;
}

/** As fastify decides it: a body is sent when it is chunked or has a length above 0. */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Only the JSON parser reads the stream this hook returns: an upload's parser reads the raw request. */
function isJson(request: FastifyRequest): boolean {
  return /^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '');
}

/** 415, with Accept-Encoding saying what would have been accepted (RFC 9110, 15.5.16). */
function refuse(reply: FastifyReply, message: string, accepted: string): AgentbusError {
  reply.header('accept-encoding', accepted);
  return new AgentbusError('unsupported_media_type', message, { param: 'Content-Encoding' });
}

/** The decoded body: `start` (piping the request through its decoder) runs at the first read. */
class DecodedBody extends Transform {
  /** The compressed bytes read so far, which fastify compares with Content-Length. */
  receivedEncodedLength = 0;
  #start: (() => void) | undefined;

  constructor(
    transform: (chunk: Buffer, callback: (err?: Error | null, chunk?: Buffer) => void) => void,
    start: () => void,
  ) {
    super({ transform: (chunk: Buffer, _encoding, callback) => transform(chunk, callback) });
    this.#start = start;
  }

  override _read(size: number): void {
    const start = this.#start;
    this.#start = undefined;
    start?.();
    super._read(size);
  }
}

/**
 * `payload` through `decoder`, failing with a 413 once the decoded bytes pass `limit`. fastify checks
 * its bodyLimit on what this stream gives too, but failing here also stops the decoder: a small
 * compressed body cannot make it inflate gigabytes for nothing (a zip bomb). `receivedEncodedLength`
 * is what fastify compares with Content-Length, which counts the compressed bytes.
 *
 * Nothing is decoded until fastify reads the stream: a route's own preParsing hooks (the rate
 * limiter's admission, which may await the shared store) run first, and a broken body found while
 * they ran would fail the stream before fastify listens, leaving the request unanswered for good.
 */
function decoded(payload: Readable, decoder: Transform, coding: string, request: FastifyRequest): Readable {
  let decodedBytes = 0;
  const limit = bodyLimitOf(request).bytes;
  const body: DecodedBody = new DecodedBody(
    (chunk, callback) => {
      decodedBytes += chunk.length;
      if (decodedBytes <= limit) return callback(null, chunk);
      callback(bodyTooLarge(request, true));
    },
    () => {
      payload.on('data', (chunk: Buffer) => {
        body.receivedEncodedLength += chunk.length;
      });
      payload.pipe(decoder).pipe(body);
    },
  );
  decoder.on('error', (err) => {
    const message = `The request body is not valid ${coding} data (Content-Encoding): ${err.message}.`;
    body.destroy(new AgentbusError('invalid_request', message, { param: 'Content-Encoding' }));
  });
  // pipe() forwards no errors: a client that leaves mid-body must end the read fastify waits on.
  finished(payload, (err) => {
    if (err) body.destroy(err);
  });
  // The raw request is left alone (destroying it would drop the socket before the 4xx is sent).
  body.once('close', () => {
    payload.unpipe(decoder);
    decoder.destroy();
  });
  // fastify listens while it reads the body; an earlier refusal (a 429) leaves it unread, and a
  // stream error without a listener would end the process.
  body.on('error', () => undefined);
  return body;
}

/**
 * Decodes request bodies sent with `Content-Encoding: gzip`, `deflate` or `br` in a preParsing
 * hook (fastify's documented place), so compressed JSON is parsed as JSON rather than refused as
 * invalid; the route's body limit (BODY_LIMIT_BYTES, or its own) applies to the decompressed size.
 * Another coding, several codings at once, or a compressed body that is not JSON (an upload) is a
 * 415 naming Content-Encoding.
 */
export function registerContentDecoding(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, reply, payload) => {
    const header = request.headers['content-encoding'];
    const codings = header === undefined ? [] : codingsOf(header);
    if (codings.length === 0 || !hasBody(request)) return payload;
    const decoder = codings.length === 1 ? DECODERS.get(codings[0]!) : undefined;
    if (!decoder) {
      const message = `Content-Encoding "${header}" is not supported: send the body uncompressed, or as `;
      throw refuse(reply, `${message}gzip, deflate or br.`, ACCEPTED);
    }
    if (!isJson(request))
      throw refuse(reply, 'Content-Encoding applies to JSON bodies only: send this body uncompressed.', 'identity');
    return decoded(payload, decoder(), codings[0]!, request);
  });
}
