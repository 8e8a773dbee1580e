import { Ollama } from 'ollama';
import { AgentbusError } from '../../../bus-schemas/index.js';
import type { ProviderEmbedRequest, ProviderEmbedResult } from '../types.js';
import { ollamaRequestError } from './errors.js';

/**
 * Ollama's `/api/embed`, through the official client (its fetch bound to the request's signal).
 * Text only: Ollama takes no token arrays, so those are refused by name.
 */
export async function ollamaEmbed(url: string, request: ProviderEmbedRequest): Promise<ProviderEmbedResult> {
  const { input, signal } = request;
  if (!input.every((item) => typeof item === 'string'))
    throw new AgentbusError(
      'invalid_request',
      '"input" as tokens cannot be honoured: Ollama embeds text only. Send the input as strings.',
      { param: 'input' },
    );
  const client = new Ollama({
    host: url,
    fetch: (resource, init) =>
      fetch(resource, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal }),
  });
  try {
    const answer = await client.embed({ model: request.model, input });
    if (answer.embeddings.length !== input.length)
      throw new AgentbusError(
        'backend_error',
        `Ollama at ${url} (OLLAMA_URL) returned ${answer.embeddings.length} vectors for ${input.length} inputs`,
      );
    return { vectors: answer.embeddings, promptTokens: answer.prompt_eval_count ?? 0 };
  } catch (err) {
    throw signal.aborted ? signal.reason : ollamaRequestError(err, url, request.model);
  }
}
