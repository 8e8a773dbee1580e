import type { ProviderChatRequest } from '../types.js';

/** OPENAI_MAX_TOKENS_PARAM's values. */
export const MAX_TOKENS_PARAM_SETTINGS = ['auto', 'as_sent', 'max_tokens', 'max_completion_tokens'] as const;
export type MaxTokensParamSetting = (typeof MAX_TOKENS_PARAM_SETTINGS)[number];

type CapName = 'max_tokens' | 'max_completion_tokens';

/** True for OpenAI's own API, which takes both names (its reasoning models only the newer one). */
function isOpenAI(baseUrl: string): boolean {
  try {
    return new URL(baseUrl).hostname === 'api.openai.com';
  } catch {
    return false;
  }
}

/**
 * The name an answer's cap goes out under, per request: `as_sent` the client's own (`max_completion_tokens`
 * for it or Responses' `max_output_tokens`, else `max_tokens`); a fixed name; `auto` as sent to OpenAI itself,
 * else `max_tokens`, the one name Ollama's /v1 and LM Studio know: a name they ignore drops the cap silently.
 */
export function capNameFor(
  setting: MaxTokensParamSetting,
  baseUrl: string,
): (sent: ProviderChatRequest['maxTokensParam']) => CapName {
  if (setting === 'max_tokens' || setting === 'max_completion_tokens') return () => setting;
  if (setting === 'auto' && !isOpenAI(baseUrl)) return () => 'max_tokens';
  return (sent) => sent ?? 'max_tokens';
}
