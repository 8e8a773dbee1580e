import type { SamplingOptions } from '../../bus-schemas/index.js';

/** CACHE_MODE: which answers the shared response cache serves and stores. */
export const CACHE_MODES = ['deterministic', 'always', 'off'] as const;
export type CacheMode = (typeof CACHE_MODES)[number];

/**
 * Whether a request with these effective sampling options may be answered from the cache. In
 * `deterministic` mode only one whose answer would not vary: `temperature: 0`, or a `seed`. A
 * chat UI's "Regenerate" resends the identical request at its temperature and must get a new
 * answer; OpenAI clients never send Cache-Control: no-cache.
 */
export function isCacheable(mode: CacheMode, options: SamplingOptions): boolean {
  if (mode === 'always') return true;
  if (mode === 'off') return false;
  return options.temperature === 0 || options.seed !== undefined;
}
