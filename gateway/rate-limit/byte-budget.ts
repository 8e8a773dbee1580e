import type { WindowLimit } from './rate-tiers.js';
import { tokensAt, type BucketState } from './token-buckets.js';

export type BytesResult =
  | { readonly allowed: true; readonly bucket: BucketState | undefined }
  /** `retryAfterMs` undefined: the body is larger than the whole budget and never fits. */
  | { readonly allowed: false; readonly retryAfterMs: number | undefined };

/**
 * Takes `bytes` from the tier's input-bytes bucket (a token bucket of `limit` bytes refilled
 * over its period), or nothing. Pure like the request buckets: tests move `now`.
 */
export function takeBytes(
  state: BucketState | undefined,
  limit: WindowLimit | undefined,
  bytes: number,
  now: number,
): BytesResult {
  if (!limit || bytes <= 0) return { allowed: true, bucket: state };
  if (bytes > limit.limit) return { allowed: false, retryAfterMs: undefined };
  const tokens = tokensAt(state, limit, now);
  if (tokens < bytes) {
    return { allowed: false, retryAfterMs: Math.ceil(((bytes - tokens) * limit.periodMs) / limit.limit) };
  }
  return { allowed: true, bucket: { tokens: tokens - bytes, at: Math.max(now, state?.at ?? now) } };
}
