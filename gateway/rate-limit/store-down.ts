/**
 * RATE_LIMIT_STORE_DOWN: what a limited key's request gets while the rate-limit store cannot
 * count it. `closed` (default): 503 `rate_limit_unavailable`, so no key outruns its tier by
 * making the store look down; `open`: it goes through unlimited, so a store outage is no outage.
 */
export type StoreDownPolicy = 'open' | 'closed';

export const STORE_DOWN_POLICIES: readonly StoreDownPolicy[] = ['closed', 'open'];
