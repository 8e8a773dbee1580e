import type { FastifyError, FastifyInstance } from 'fastify';
import { AgentbusError, messageFromAjvErrors } from '../../bus-schemas/index.js';

// fastify's own 4xx errors, by code, mapped to rows of the error table.
const FASTIFY_CODES: Record<string, (err: FastifyError) => AgentbusError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new AgentbusError('request_too_large'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (err) => new AgentbusError('unsupported_media_type', `Unsupported Content-Type: send the body as application/json (${err.message}).`),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new AgentbusError('invalid_json', 'The request body is empty; send a JSON object.'),
  FST_ERR_CTP_INVALID_JSON_BODY: (err) => new AgentbusError('invalid_json', `The request body is not valid JSON: ${err.message}`),
};

/** Any error a request can raise, as an AgentbusError (the OpenAI error shape and status). */
export function toAgentbusError(err: FastifyError | Error): AgentbusError {
  if (err instanceof AgentbusError) return err;
  const fastifyError = err as FastifyError;
  if (fastifyError.validation) {
    const { message, param } = messageFromAjvErrors(fastifyError.validation as never, fastifyError.validationContext ?? 'body');
    return new AgentbusError('invalid_request', message, { param });
  }
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) return mapped(fastifyError);
  if (err instanceof SyntaxError && fastifyError.statusCode === 400) return new AgentbusError('invalid_json', `The request body is not valid JSON: ${err.message}`);
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) return new AgentbusError('invalid_request', err.message);
  return new AgentbusError('internal_error', 'Internal error; see the gateway log.', { cause: err });
}

/** Every error and unknown route answers in the OpenAI error shape with the table's status. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = toAgentbusError(err);
    if (error.status >= 500) request.log.error({ err: error.cause ?? err, code: error.code }, error.message);
    else request.log.info({ code: error.code, param: error.param }, error.message);
    if (error.retryable) reply.header('retry-after', '1');
    return reply.status(error.status).send(error.toOpenAI());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new AgentbusError('unknown_url', `Unknown URL: ${request.method} ${request.url.split('?')[0]}`);
    return reply.status(error.status).send(error.toOpenAI());
  });
}
