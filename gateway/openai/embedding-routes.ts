import type { FastifyInstance } from 'fastify';
import { AgentbusError, decodeVector } from '../../bus-schemas/index.js';
import type { ChatDeps } from '../chat/types.js';
import { runEmbedding, type EmbeddingInput } from '../embeddings/start-embedding.js';
import { admitBeforeBody } from '../http/admit-before-body.js';
import { callOriginOf, clientLeaving } from '../http/call-origin.js';
import {
  embeddingRequestSchema,
  perAgentEmbeddingRequestSchema,
  type EmbeddingBody,
} from './embedding-request.schema.js';

/** One string or one token array, rather than a list of them. */
const isSingle = (input: EmbeddingBody['input']): input is string | number[] =>
  typeof input === 'string' || input.every((item) => typeof item === 'number');

/** OpenAI's `input` as a list of inputs: one string or one token array is a list of one. */
function inputList(input: EmbeddingBody['input']): EmbeddingInput['input'] {
  if (typeof input === 'string') return [input];
  return isSingle(input) ? [input] : input;
}

/**
 * An error about the first input, named as the client sent it: `input`, not `input[0]`, when it
 * sent one string or one token array (the gateway and the worker see a list either way).
 */
function namedAsSent(err: unknown, input: EmbeddingBody['input']): unknown {
  if (!isSingle(input) || !(err instanceof AgentbusError) || err.param !== 'input[0]') return err;
  return err.restated({ message: err.message.replace(/^input\[0\]/, 'input'), param: 'input' });
}

/**
 * `POST /v1/embeddings`: OpenAI's embeddings, answered by an embedding agent of the catalog over
 * the bus. `encoding_format: "base64"` sends the bus's own encoding through untouched.
 */
export async function embeddingsRoutes(app: FastifyInstance, deps: ChatDeps & { perAgent: boolean }) {
  const schema = { body: deps.perAgent ? perAgentEmbeddingRequestSchema : embeddingRequestSchema };

  // A limit of its own: a batch of many inputs (OpenAI takes 2048) is far over BODY_LIMIT_BYTES.
  const bodyLimit = deps.config.embeddingsBodyLimitBytes;
  // Rate limits first, before the body is read (admit-before-body.ts); the URL's agent must embed.
  app.addHook('preParsing', admitBeforeBody(deps, { serves: 'embedding', bodyLimit }));

  const config = { bodyLimitName: 'EMBEDDINGS_BODY_LIMIT_BYTES' };
  app.post<{ Body: EmbeddingBody }>('/v1/embeddings', { schema, bodyLimit, config }, async (request, reply) => {
    const { body } = request;
    // A client that leaves stops the worker's batch: it would hold a model slot for nobody.
    const left = clientLeaving(reply, () => 'the client closed the connection');
    const result = await runEmbedding(
      deps,
      { model: body.model, input: inputList(body.input), dimensions: body.dimensions ?? undefined },
      await callOriginOf(request, reply),
      left,
    ).catch((err: unknown) => {
      throw namedAsSent(err, body.input);
    });
    const base64 = body.encoding_format === 'base64';
    return {
      object: 'list' as const,
      data: result.reply.embeddings.map((encoded, index) => ({
        object: 'embedding' as const,
        index,
        embedding: base64 ? encoded : decodeVector(encoded),
      })),
      model: result.agent.name,
      usage: result.reply.usage,
    };
  });
}
