import type { RateTier } from './rate-tiers.js';
import type { WindowReport } from './token-buckets.js';

/**
 * A duration as OpenAI writes `x-ratelimit-reset-requests`: "250ms", "12s", "6m0s", "1h2m3s".
 * Whole seconds are rounded up: "try again in 0s" would be a lie.
 */
export function openAiDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const total = Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** Whole seconds to wait, at least 1 (a Retry-After of 0 invites a tight retry loop). */
export const retryAfterSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * The rate-limit headers of a response for the tightest window: OpenAI's names (which the
 * official SDKs read) and the IETF draft's `RateLimit-*` ones, with the tier's whole policy.
 * A tier without request limits sends none.
 */
export function rateLimitHeaders(tier: RateTier, tightest: WindowReport | undefined): Record<string, string> {
  if (!tightest || tier.windows.length === 0) return {};
  return {
    'x-ratelimit-limit-requests': String(tightest.limit),
    'x-ratelimit-remaining-requests': String(tightest.remaining),
    'x-ratelimit-reset-requests': openAiDuration(tightest.resetMs),
    'ratelimit-limit': String(tightest.limit),
    'ratelimit-remaining': String(tightest.remaining),
    'ratelimit-reset': String(Math.ceil(tightest.resetMs / 1000)),
    'ratelimit-policy': tier.windows.map((w) => `${w.limit};w=${w.periodMs / 1000}`).join(', '),
  };
}

/** Every header name above, for CORS `exposedHeaders`. */
export const RATE_LIMIT_HEADER_NAMES = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'ratelimit-policy',
] as const;
