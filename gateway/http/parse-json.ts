import { isUtf8 } from 'node:buffer';
import secureJson from 'secure-json-parse';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import { jsonDepthOverflow } from './json-depth.js';

// fastify's own defaults ('error' for both): a `__proto__` key, or `constructor` holding a
// `prototype`, would turn into a prototype change wherever the object is merged with
// Object.assign or a hand-written deep merge. Refusing it beats silently dropping the key.
const PARSE_OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const;

/**
 * Parses untrusted JSON text: the depth scan first (no recursion, whatever the nesting), then
 * secure-json-parse. Throws an {@link AgentbusError} (never anything else): `invalid_json`,
 * `json_too_deep` naming MAX_JSON_DEPTH, or `forbidden_json_key`. `what` names the text in
 * messages ("request body", "frame").
 */
export function parseUntrustedJson(text: string, maxDepth: number, what: string): unknown {
  if (text.length === 0) throw new AgentbusError('invalid_json', `The ${what} is empty; send a JSON object.`);
  const at = jsonDepthOverflow(text, maxDepth);
  if (at >= 0) {
    throw new AgentbusError(
      'json_too_deep',
      `The ${what} nests objects and arrays more than ${maxDepth} levels deep (at character ${at}); ` +
        'MAX_JSON_DEPTH sets the limit.',
    );
  }
  try {
    return secureJson.parse(text, undefined, PARSE_OPTIONS);
  } catch (err) {
    const message = (err as Error).message;
    if (/forbidden prototype property/.test(message)) {
      throw new AgentbusError(
        'forbidden_json_key',
        `The ${what} has a "__proto__" key, or a "constructor" key holding "prototype"; ` +
          'agentbus refuses them (prototype pollution). Rename the key.',
      );
    }
    throw new AgentbusError('invalid_json', `The ${what} is not valid JSON: ${message}`);
  }
}

// ASCII is UTF-8's first 128 characters: a body in it reads the same.
const UTF8_COMPATIBLE = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii']);

/** The charset a Content-Type names when it is not UTF-8 (the text was read as UTF-8, so it would be garbled). */
export function otherCharsetOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !contentType.includes('=')) return undefined;
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType)?.[1]?.toLowerCase();
  // An empty `charset=` names nothing: read as no charset at all.
  return !charset || UTF8_COMPATIBLE.has(charset) ? undefined : charset.slice(0, 40);
}

function otherCharsetError(charset: string): AgentbusError {
  return new AgentbusError(
    'unsupported_media_type',
    `The body's charset is "${charset}"; JSON is read as UTF-8 only (RFC 8259). Send it as UTF-8 ` +
      '(charset=utf-8, or no charset).',
    { param: 'Content-Type' },
  );
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads no body (`POST /v1/responses/{id}/cancel`): an empty JSON body is none, not invalid JSON. */
    takesNoBody?: boolean;
  }
}

/**
 * Replaces fastify's `application/json` parser with {@link parseUntrustedJson}: same
 * secure-json-parse behaviour, plus the depth limit checked before parsing. The body limit
 * (BODY_LIMIT_BYTES) still applies, as fastify reads the body before calling the parser.
 */
export function registerJsonParser(app: FastifyInstance, maxDepth: number): void {
  app.removeContentTypeParser('application/json');
  // Bytes, not text: read as a string, bytes that are not UTF-8 would become U+FFFD unseen and be
  // answered and stored altered (a WebSocket frame of them is refused, 1007).
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, async (request: FastifyRequest, body: Buffer) => {
    // A DELETE (or a POST that takes no body) has nothing to send, though clients that set
    // Content-Type on every call send it.
    if (body.length === 0 && (request.method === 'DELETE' || request.routeOptions.config.takesNoBody === true))
      return undefined;
    // An unknown URL is a 404 whatever its body holds.
    if (request.is404) return undefined;
    // Read and decoded, its bytes are spent whatever follows (chunked or compressed: counted only now).
    await request.earlyAdmission?.chargeRead(body.length);
    const charset = otherCharsetOf(request.headers['content-type']);
    if (charset !== undefined) throw otherCharsetError(charset);
    if (!isUtf8(body)) throw new AgentbusError('invalid_json', 'The request body is not valid UTF-8; JSON must be.');
    return parseUntrustedJson(body.toString('utf8'), maxDepth, 'request body');
  });
}
