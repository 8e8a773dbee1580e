import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { AgentbusError, messageFromAjvErrors } from '../../bus-schemas/index.js';
import { retryAfterSeconds } from '../rate-limit/rate-limit-headers.js';
import { refusalOf } from '../rate-limit/rate-limiter.js';
import { StoppedBeforeAnswer } from '../call/stopped-before-answer.js';
import { nameReply, newHttpRequestId } from './request-id.js';
import { bodyTooLarge } from './body-limit.js';

// fastify's own 4xx errors, by code, mapped to rows of the error table.
const FASTIFY_CODES: Record<string, (err: FastifyError) => AgentbusError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new AgentbusError('request_too_large'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (err) =>
    new AgentbusError(
      'unsupported_media_type',
      `Unsupported Content-Type: send the body as application/json (${err.message}).`,
    ),
  FST_ERR_CTP_EMPTY_JSON_BODY: () =>
    new AgentbusError('invalid_json', 'The request body is empty; send a JSON object.'),
  FST_ERR_CTP_INVALID_JSON_BODY: (err) =>
    new AgentbusError('invalid_json', `The request body is not valid JSON: ${err.message}`),
  FST_ERR_BAD_URL: () => new AgentbusError('invalid_request', 'The URL is malformed (bad percent-encoding).'),
  // @fastify/multipart's (POST /v1/audio/transcriptions).
  FST_REQ_FILE_TOO_LARGE: () => new AgentbusError('audio_file_too_large'),
  FST_FILES_LIMIT: () => new AgentbusError('invalid_request', 'Send one file only.', { param: 'file' }),
  FST_PARTS_LIMIT: () => new AgentbusError('invalid_request', 'The form has too many parts.'),
  FST_FIELDS_LIMIT: () => new AgentbusError('invalid_request', 'The form has too many fields.'),
  FST_INVALID_MULTIPART_CONTENT_TYPE: () =>
    new AgentbusError('unsupported_media_type', 'Send the upload as multipart/form-data.'),
  FST_ERR_MAX_PARAM_LENGTH: () => new AgentbusError('uri_too_long', 'A path segment of the URL is too long.'),
  FST_MP_PREMATURE_CLOSE: () => bodyCut(),
};

function bodyCut(): AgentbusError {
  return new AgentbusError(
    'request_cancelled',
    'The client closed the connection before its request body arrived whole.',
  );
}

/**
 * Node's error for a request whose connection closed mid-body (the client left during an upload):
 * the client's doing, not a malformed body nor a bug. fastify marks it 400 while reading JSON.
 */
const isBodyCut = (err: Error) => (err as NodeJS.ErrnoException).code === 'ECONNRESET' && err.message === 'aborted';

/**
 * Any error an HTTP request can raise, as an AgentbusError (the OpenAI error shape and status):
 * fastify's own 4xx mapped to rows of the error table, anything else {@link AgentbusError.from}.
 */
export function fromHttpError(err: FastifyError | Error): AgentbusError {
  if (err instanceof AgentbusError) return err;
  const fastifyError = err as FastifyError;
  if (fastifyError.validation) {
    const { message, param } = messageFromAjvErrors(
      fastifyError.validation as never,
      fastifyError.validationContext ?? 'body',
    );
    return new AgentbusError('invalid_request', message, { param });
  }
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) return mapped(fastifyError);
  if (isBodyCut(err)) return bodyCut();
  if (err instanceof SyntaxError && fastifyError.statusCode === 400)
    return new AgentbusError('invalid_json', `The request body is not valid JSON: ${err.message}`);
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500)
    return new AgentbusError('invalid_request', err.message);
  return AgentbusError.from(err);
}

const EMPTY_BODY = 'The request body is empty; send a JSON object with Content-Type: application/json.';

/**
 * True when the body's schema failed because there was no body at all (a POST without
 * Content-Type is not parsed): "body must be an object" would not tell the client what it left out.
 */
export function bodyMissing(err: FastifyError | Error, body: unknown): boolean {
  return body === undefined && (err as FastifyError).validationContext === 'body';
}

/**
 * Sends an error in the OpenAI shape with the table's status. `x-should-retry` tells the
 * official SDKs (which otherwise retry every 5xx) whether a retry can help.
 */
export function sendError(reply: FastifyReply, error: AgentbusError): FastifyReply {
  // A 429 of the rate limiter has set its own, longer Retry-After already; an open circuit
  // breaker's error says when its provider is tried again.
  if (error.retryable && !reply.hasHeader('retry-after'))
    reply.header('retry-after', String(retryAfterSeconds(error.retryAfterMs ?? 1000)));
  reply.header('x-should-retry', String(error.retryable));
  // Refused before the hooks ran (fastify's own errors, such as a malformed URL): named here.
  nameReply(reply);
  // Its connection is closed next, as refuse-while-closing.ts's is.
  if (error instanceof StoppedBeforeAnswer) reply.header('connection', 'close');
  return reply.status(error.status).send(error.toOpenAI());
}

/** Errors Node's HTTP parser raises before fastify sees a request (e.g. oversized headers). */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new AgentbusError('headers_too_large')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AgentbusError('client_timeout')
        : new AgentbusError('invalid_request', 'Malformed HTTP request.');
  answerOnSocket(socket, error);
}

/**
 * Answers `error` on a socket no HTTP response object owns, then closes it. The status line has
 * the standard reason phrase (`400 Bad Request`), as every other answer: the code is in the body.
 */
export function answerOnSocket(socket: Duplex, error: AgentbusError, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(error.toOpenAI());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n` +
        Object.entries({ 'X-Request-ID': newHttpRequestId(), ...headers })
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('') +
        'Content-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n' +
        `\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Fastify options that route errors raised before routing through the same error shape. */
export const errorShapeOptions = {
  clientErrorHandler,
  frameworkErrors: (err: FastifyError, _request: unknown, reply: FastifyReply) => sendError(reply, fromHttpError(err)),
};

/**
 * The log level of a 5xx error: a retryable one (overload, no worker, backend down, a gateway
 * shutting down) is an operating condition, not a bug; so is a deadline, often the client's own
 * (X-Request-Timeout-Ms) or a slow model's.
 */
export function serverErrorLevel(error: AgentbusError): 'warn' | 'error' {
  return error.retryable || error.code === 'deadline_exceeded' ? 'warn' : 'error';
}

/** Every error and unknown route answers in the OpenAI error shape with the table's status. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = bodyMissing(err, request.body)
      ? new AgentbusError('invalid_json', EMPTY_BODY)
      : // Named with the route's own limit: the embeddings routes have a larger one.
        err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? bodyTooLarge(request)
        : fromHttpError(err);
    if (error.status >= 500)
      request.log[serverErrorLevel(error)]({ err: error.cause ?? err, code: error.code }, error.message);
    else request.log.info({ code: error.code, param: error.param }, error.message);
    // A rate-limit refusal says when to come back, wherever it was raised (the body parser too).
    const refusal = refusalOf(err);
    if (refusal) reply.headers(refusal.headers);
    return sendError(reply, error);
  });
  // Node answers an unknown expectation itself, with an empty 417, unless someone listens.
  app.server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const error = new AgentbusError(
      'expectation_failed',
      `Expect: ${(request.headers.expect ?? '').slice(0, 40)} is not supported; send Expect: 100-continue or no ` +
        'Expect header.',
    );
    const body = JSON.stringify(error.toOpenAI());
    response.writeHead(error.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-should-retry': 'false',
      'x-request-id': newHttpRequestId(),
    });
    response.end(body);
  });
  // A CONNECT is handed to 'connect' listeners only, and without one Node closes the socket unanswered.
  app.server.on('connect', (request: IncomingMessage, socket: Duplex) =>
    answerOnSocket(socket, new AgentbusError('invalid_request', 'CONNECT is not served: agentbus is not a proxy.')),
  );
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new AgentbusError('unknown_url', `Unknown URL: ${request.method} ${request.url.split('?')[0]}`)),
  );
}
