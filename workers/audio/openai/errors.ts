import { APIConnectionError, APIError } from 'openai';
import { AgentbusError } from '../../../bus-schemas/index.js';
import { upstream429 } from '../../providers/openai/rate-limit.js';

/**
 * Maps an OpenAI SDK failure on the audio server to the error table, naming OPENAI_AUDIO_BASE_URL:
 * unreachable and 5xx are retryable (the chain moves on, the breaker counts them); a 429 is a rate limit
 * or an empty account (providers/openai/rate-limit.ts); a 400 is the request's fault and goes back to the
 * client as it is.
 */
export function openAIAudioError(
  err: unknown,
  baseUrl: string,
  model: string,
  task: 'speech' | 'transcription' = 'speech',
): AgentbusError {
  if (err instanceof AgentbusError) return err;
  const where = `The OpenAI-compatible audio server at ${baseUrl} (OPENAI_AUDIO_BASE_URL)`;
  if (err instanceof APIConnectionError)
    return new AgentbusError(
      'backend_unreachable',
      `${where} is not reachable: ${(err.cause as Error | undefined)?.message ?? err.message}.`,
      { cause: err },
    );
  if (err instanceof APIError && err.status === 404)
    return new AgentbusError(
      'backend_model_not_found',
      `${where} has no ${task} model "${model}": ${err.message}. Set the "model" of its link in the agent's ` +
        `"${task}.providers" to one it serves.`,
      { cause: err },
    );
  if (err instanceof APIError && err.status === 400)
    return new AgentbusError('invalid_request', `${where} refused the request: ${err.message}`, { cause: err });
  if (err instanceof APIError && (err.status === 401 || err.status === 403))
    return new AgentbusError(
      'backend_auth_failed',
      `${where} refused the key (HTTP ${err.status}): set OPENAI_AUDIO_API_KEY on the worker to a key it accepts.`,
      { cause: err },
    );
  const limited = upstream429(err, where, 'OPENAI_AUDIO_API_KEY');
  if (limited) return limited;
  if (err instanceof APIError && err.status !== undefined)
    return new AgentbusError('backend_error', `${where} answered HTTP ${err.status}: ${err.message}`, { cause: err });
  return new AgentbusError('backend_error', `${where} failed mid-answer: ${(err as Error).message}`, { cause: err });
}
