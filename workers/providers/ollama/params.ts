import type { Options } from 'ollama';
import type { SamplingOptions } from '../../../bus-schemas/index.js';

type OptionName = Exclude<keyof SamplingOptions, 'reasoning_effort'>;

/**
 * OpenAI sampling parameter → Ollama `options` field. Every bus option has a row, but for
 * `reasoning_effort`, which is the request's `think` ({@link toOllamaThink}).
 */
export const OLLAMA_PARAMETERS = {
  temperature: 'temperature',
  top_p: 'top_p',
  max_tokens: 'num_predict',
  stop: 'stop',
  seed: 'seed',
  presence_penalty: 'presence_penalty',
  frequency_penalty: 'frequency_penalty',
} as const satisfies Record<OptionName, keyof Options>;

/** Maps sampling options to Ollama's `options` object, leaving out what was not set. */
export function toOllamaOptions(options: SamplingOptions): Partial<Options> {
  const mapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && name !== 'reasoning_effort') mapped[OLLAMA_PARAMETERS[name as OptionName]] = value;
  }
  return mapped;
}

/**
 * `reasoning_effort` → Ollama's `think`: levels for the models that take them (gpt-oss), on/off
 * for the others (qwen3, deepseek-r1, …); `none` turns thinking off. A model that cannot think
 * makes Ollama answer 400, which errors.ts turns into a 400 naming `reasoning_effort`.
 */
export function toOllamaThink(model: string, effort: SamplingOptions['reasoning_effort']) {
  if (effort === undefined) return undefined;
  if (effort === 'none') return false;
  if (!/gpt-oss/i.test(model)) return true;
  return effort === 'minimal' ? 'low' : effort;
}
