import { randomBytes } from 'node:crypto';
import { Ajv } from 'ajv';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import type { FromSchema } from 'json-schema-to-ts';
import { compiledOnUse, memoryLastRequestSchema, PROTOCOL_VERSION, type Subjects } from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';
import { queryLastTurns } from '../bus/memory-query.js';
import { refuseRepeatedParameters, requireDecimalDigits } from '../http/query-integer.js';

export interface MemoryRoutesDeps {
  bus: Bus;
  subjects: Subjects;
}

// Turns returned when the client names no `limit`: as many as an agent's default history window.
const MEMORY_LAST_DEFAULT_LIMIT = 10;
// One indexed read on the worker: several seconds without a reply means a stuck worker, not a busy one.
const MEMORY_QUERY_TIMEOUT_MS = 5_000;

// The fields are the bus query's own, so the HTTP and bus limits cannot drift apart. Unknown
// parameters are refused, as unsupported body fields are, rather than silently ignored.
const memoryLastQuerySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['session'],
  properties: {
    session: memoryLastRequestSchema.properties.session,
    limit: { ...memoryLastRequestSchema.properties.limit, default: MEMORY_LAST_DEFAULT_LIMIT },
  },
} as const;
type MemoryLastQuery = FromSchema<typeof memoryLastQuerySchema>;

// The app's ajv never coerces (OpenAI bodies are strict JSON), but a querystring is all strings:
// this route's own ajv turns "5" into 5 and still refuses "abc", "1.5" and a repeated parameter.
// It compiles every schema of the route, so a body schema added here would be coerced too.
const queryAjv = new Ajv({
  coerceTypes: true,
  useDefaults: true,
  removeAdditional: false,
  allErrors: false,
  verbose: true,
  strict: true,
});
const compileQuerystring: FastifySchemaCompiler<unknown> = ({ schema }) =>
  compiledOnUse(() => queryAjv.compile(schema as object));

/**
 * `GET /memory/last?session=<id>&limit=N`: the caller's last N turns of a conversation, newest
 * first, read by a worker over the bus (the gateway never opens the memory database).
 */
export async function memoryRoutes(app: FastifyInstance, deps: MemoryRoutesDeps): Promise<void> {
  const { bus, subjects } = deps;

  app.get<{ Querystring: MemoryLastQuery }>(
    '/memory/last',
    {
      schema: { querystring: memoryLastQuerySchema },
      validatorCompiler: compileQuerystring,
      preValidation: async (request) => {
        refuseRepeatedParameters(request.query, Object.keys(memoryLastQuerySchema.properties));
        requireDecimalDigits(request.query, 'limit');
      },
    },
    async (request, reply) => {
      const requestId = `memq-${randomBytes(12).toString('base64url')}`;
      request.log = reply.log = request.log.child({ requestId });
      reply.header('x-request-id', requestId);
      const result = await queryLastTurns(
        bus,
        {
          v: PROTOCOL_VERSION,
          request_id: requestId,
          tenant: request.tenant,
          session: request.query.session,
          limit: request.query.limit,
        },
        { subject: subjects.memoryLast, timeoutMs: MEMORY_QUERY_TIMEOUT_MS },
      );
      return { object: 'list' as const, session_id: result.session_id, data: result.turns };
    },
  );
}
