import type { Options } from 'ollama';
import type { SamplingOptions } from '../../../bus-schemas/index.js';

/** OpenAI sampling parameter → Ollama `options` field. Every bus option has a row. */
export const OLLAMA_PARAMETERS = {
  temperature: 'temperature',
  top_p: 'top_p',
  max_tokens: 'num_predict',
  stop: 'stop',
  seed: 'seed',
  presence_penalty: 'presence_penalty',
  frequency_penalty: 'frequency_penalty',
} as const satisfies Record<keyof SamplingOptions, keyof Options>;

/** Maps sampling options to Ollama's `options` object, leaving out what was not set. */
export function toOllamaOptions(options: SamplingOptions): Partial<Options> {
  const mapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined) mapped[OLLAMA_PARAMETERS[name as keyof SamplingOptions]] = value;
  }
  return mapped;
}
