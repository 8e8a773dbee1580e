import { AgentbusError } from '../../../bus-schemas/index.js';

function causeText(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
}

/** Maps a failure before Ollama answered (connection refused, DNS, HTTP error status). */
export function ollamaRequestError(err: unknown, url: string, model: string): AgentbusError {
  if (err instanceof AgentbusError) return err;
  const status = (err as { status_code?: number }).status_code;
  const message = (err as Error).message ?? String(err);
  if (status === 404 && /not found/i.test(message)) {
    return new AgentbusError(
      'backend_model_not_found',
      `Ollama at ${url} (OLLAMA_URL) has no model "${model}": ${message}. ` +
        `Pull it with "ollama pull ${model}", ` +
        `or set DEFAULT_MODEL / the agent's "model" in AGENTS_FILE to a model you have.`,
      { cause: err },
    );
  }
  if (status === 400 && /think/i.test(message)) {
    return new AgentbusError(
      'invalid_request',
      `The model "${model}" at ${url} (OLLAMA_URL) cannot think: ${message}. Leave reasoning_effort out, ` +
        'or give this agent a reasoning model (qwen3, deepseek-r1, gpt-oss) in AGENTS_FILE.',
      { param: 'reasoning_effort', cause: err },
    );
  }
  // Refused as sent (a format or option it rejects): not the backend's failure, so no retry and
  // nothing counted against its breaker.
  if (status === 400) {
    return new AgentbusError('invalid_request', `Ollama at ${url} (OLLAMA_URL) refused the request: ${message}`, {
      cause: err,
    });
  }
  // Ollama's cloud models answer 429 at their usage limits (a local server answers 503 when its queue is full);
  // the library keeps no headers, so no Retry-After to pass on.
  if (status === 429) {
    return new AgentbusError('backend_rate_limited', `Ollama at ${url} (OLLAMA_URL) is rate limiting: ${message}`, {
      cause: err,
    });
  }
  if (typeof status === 'number') {
    return new AgentbusError('backend_error', `Ollama at ${url} (OLLAMA_URL) answered HTTP ${status}: ${message}`, {
      cause: err,
    });
  }
  return new AgentbusError(
    'backend_unreachable',
    `Ollama is not reachable at ${url} (OLLAMA_URL): ${causeText(err)}. ` +
      'Start it with "ollama serve", or set OLLAMA_URL to where it runs.',
    { cause: err },
  );
}

/** Maps a failure after Ollama started streaming (socket closed, error line in the stream). */
export function ollamaStreamError(err: unknown, url: string): AgentbusError {
  if (err instanceof AgentbusError) return err;
  return new AgentbusError('backend_error', `Ollama at ${url} (OLLAMA_URL) failed mid-answer: ${causeText(err)}`, {
    cause: err,
  });
}
