import { APIConnectionError, APIError } from 'openai';
import { AgentbusError } from '../../../bus-schemas/index.js';
import { upstream429 } from './rate-limit.js';

const REFUSED_AS_SENT = new Set([400, 413, 422]);

// How servers say a prompt does not fit: OpenAI's code; llama-server's type; vLLM (code 400,
// type BadRequestError) and others only in words.
const CONTEXT_WORDS = /maximum context length|exceeds the available context size|context length exceeded/i;

function isContextOverflow(err: { code?: unknown; type?: unknown; status?: unknown; message: string }): boolean {
  return (
    err.code === 'context_length_exceeded' ||
    err.type === 'exceed_context_size_error' ||
    (err.status === 400 && CONTEXT_WORDS.test(err.message))
  );
}

/** Maps an OpenAI SDK failure to the error table, naming the upstream and the setting to fix. */
export function openAIError(err: unknown, baseUrl: string, model: string): AgentbusError {
  if (err instanceof AgentbusError) return err;
  if (err instanceof APIConnectionError) {
    return new AgentbusError(
      'backend_unreachable',
      `The OpenAI-compatible server is not reachable at ${baseUrl} (OPENAI_BASE_URL): ` +
        `${(err.cause as Error | undefined)?.message ?? err.message}.`,
      { cause: err },
    );
  }
  if (err instanceof APIError && err.status === 404) {
    return new AgentbusError(
      'backend_model_not_found',
      `The OpenAI-compatible server at ${baseUrl} (OPENAI_BASE_URL) has no model "${model}": ${err.message}. ` +
        `Set DEFAULT_MODEL or the agent's "model" to one it serves.`,
      { cause: err },
    );
  }
  if (err instanceof APIError && (err.status === 401 || err.status === 403)) {
    // The worker's own key, not the client's: a configuration error no retry will fix. The server's own
    // words stay in the cause (the worker's log): OpenAI's 401 quotes the key's first and last characters.
    return new AgentbusError(
      'backend_auth_failed',
      `The OpenAI-compatible server at ${baseUrl} (OPENAI_BASE_URL) refused the key (HTTP ${err.status}): ` +
        `set OPENAI_API_KEY on the worker to a key it accepts.`,
      { cause: err },
    );
  }
  if (err instanceof APIError && isContextOverflow(err)) {
    return new AgentbusError(
      'context_length_exceeded',
      `The OpenAI-compatible server at ${baseUrl} says the conversation is too long for "${model}": ${err.message}`,
      { param: 'messages', cause: err },
    );
  }
  // The request refused as it is (400, 413, 422): sending it again, or counting it against the
  // server's breaker, would only let one client's requests shut the provider for everyone.
  if (err instanceof APIError && typeof err.status === 'number' && REFUSED_AS_SENT.has(err.status)) {
    return new AgentbusError(
      'invalid_request',
      `The OpenAI-compatible server at ${baseUrl} (OPENAI_BASE_URL) refused the request (HTTP ${err.status}): ` +
        err.message,
      { ...(typeof err.param === 'string' ? { param: err.param } : {}), cause: err },
    );
  }
  // A rate limit or an empty account: the server is well, so neither a backend_error nor a breaker's failure.
  const limited = upstream429(err, `The OpenAI-compatible server at ${baseUrl}`, 'OPENAI_API_KEY');
  if (limited) return limited;
  if (err instanceof APIError && err.status !== undefined) {
    return new AgentbusError(
      'backend_error',
      `The OpenAI-compatible server at ${baseUrl} (OPENAI_BASE_URL) answered HTTP ${err.status}: ${err.message}`,
      { cause: err },
    );
  }
  return new AgentbusError(
    'backend_error',
    `The OpenAI-compatible server at ${baseUrl} failed mid-answer: ${(err as Error).message}`,
    { cause: err },
  );
}
