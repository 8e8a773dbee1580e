import type OpenAI from 'openai';
import { AgentbusError } from '../../../bus-schemas/index.js';
import type { ProviderEmbedRequest, ProviderEmbedResult } from '../types.js';
import { openAIError } from './errors.js';

/**
 * `POST /embeddings` on the OpenAI-compatible upstream, as floats. Token arrays go through as
 * they are: OpenAI's API takes them (a server that does not answers with its own 400).
 */
export async function openAIEmbed(
  client: OpenAI,
  baseUrl: string,
  request: ProviderEmbedRequest,
): Promise<ProviderEmbedResult> {
  const { input, signal } = request;
  try {
    const answer = await client.embeddings.create(
      { model: request.model, input, encoding_format: 'float' },
      { signal },
    );
    const vectors: number[][] = [];
    for (const item of answer.data) vectors[item.index] = item.embedding;
    if (vectors.length !== input.length || vectors.some((vector) => vector === undefined))
      throw new AgentbusError(
        'backend_error',
        `The OpenAI-compatible server at ${baseUrl} returned ${answer.data.length} vectors for ${input.length} inputs`,
      );
    return { vectors, promptTokens: answer.usage?.prompt_tokens ?? 0 };
  } catch (err) {
    throw signal.aborted ? signal.reason : openAIError(err, baseUrl, request.model);
  }
}
