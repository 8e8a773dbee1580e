import type { KV, KvOptions } from '@nats-io/kv';
import type { Bus } from '../../common/bus.js';
import { openKvBucket } from '../../common/jetstream-resources.js';
import { LONGEST_WINDOW_MS } from './rate-tiers.js';

// An idle tenant's entry expires (max age) once every bucket would be full again anyway, plus a
// margin for clock skew between replicas. nats-server 2.9 has no per-message TTL: the bucket's
// max age is the only expiry, and every update restarts it for that entry.
const ENTRY_MAX_AGE_MS = LONGEST_WINDOW_MS + 3_600_000;

/** The rate-limit bucket's settings, the same for the gateway and `npm run bus:setup`. */
export function rateLimitBucketOptions(): Partial<KvOptions> {
  return {
    history: 1,
    ttl: ENTRY_MAX_AGE_MS,
    description: 'agentbus rate limits: token buckets and in-flight leases per API key',
  };
}

/**
 * Opens the rate-limit bucket, creating it only when it is missing and this NATS user may (on a
 * locked-down bus the admin user of `npm run bus:setup` creates it; a missing one is then a
 * BusSetupNeededError naming that command, and the limiter decides what to do without it).
 */
export function openRateLimitBucket(bus: Bus, bucket: string, timeoutMs: number): Promise<KV> {
  return openKvBucket(bus, bucket, rateLimitBucketOptions(), timeoutMs);
}
