import type { RateTier } from './rate-tiers.js';
import { parseTenantState, releaseLease, renewLeases } from './tenant-state.js';
import type { TenantStore } from './tenant-store.js';

/** How long a concurrency lease runs before it must be renewed, and how often it is. */
export interface LeaseTiming {
  /** A lease written now lapses this much later unless renewed: how long a crashed gateway holds a slot. */
  readonly ttlMs: number;
  /** Renewal period; a few renewals fit in one ttl, so a short store stall does not lose a lease. */
  readonly renewEveryMs: number;
}

/** 15 s leases renewed every 5 s: a lease survives two failed renewals (a 10 s stall). */
export const DEFAULT_LEASE_TIMING: LeaseTiming = Object.freeze({ ttlMs: 15_000, renewEveryMs: 5_000 });

// A release that failed is tried again this many times in all (also stopped once the lease
// would have lapsed by itself), with jittered exponential pauses between tries.
const MAX_RELEASE_ATTEMPTS = 8;
const RELEASE_BACKOFF_BASE_MS = 200;
const RELEASE_BACKOFF_CAP_MS = 5_000;

type Warn = (reason: string, err: unknown, message: string) => void;

interface Held {
  /** The request's deadline: never renewed past it. */
  readonly deadline: number;
  /** The latest `until` that may be in the store (a renewal that timed out may have landed). */
  until: number;
}

/** The leases this gateway holds: renewed while their requests run, removed when they end. */
export interface LeaseKeeper {
  /** The `until` of a lease written at `now` for a request due at `deadline`. */
  untilAt(now: number, deadline: number): number;
  /** Renews an admitted lease periodically until {@link release} or its deadline. */
  hold(tenant: string, id: string, deadline: number, until: number): void;
  /**
   * Removes a lease from the store. Resolves after the first attempt, never throws: a failed
   * release is retried in the background, bounded in tries and stopping once the lease would
   * have lapsed anyway. `lapsesAt` is for a lease never held (one whose write may or may not
   * have landed). `refund` gives the request's token of that tier back in the same write.
   */
  release(tenant: string, id: string, lapsesAt: number, refund?: RateTier): Promise<void>;
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/**
 * Short leases, renewed: a gateway that dies mid-request stops renewing, so its slots free within
 * one ttl instead of at the request's deadline (minutes). Renewals of one tenant's leases go as
 * one write per period. Timers are unref'd: they never keep a process alive.
 */
export function createLeaseKeeper(store: TenantStore, timing: LeaseTiming, warn: Warn): LeaseKeeper {
  const held = new Map<string, Map<string, Held>>();
  const renewing = new Set<string>();
  let timer: NodeJS.Timeout | undefined;

  function drop(tenant: string, id: string): Held | undefined {
    const leases = held.get(tenant);
    const lease = leases?.get(id);
    leases?.delete(id);
    if (leases?.size === 0) held.delete(tenant);
    if (held.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
    return lease;
  }

  function renewTenant(tenant: string): void {
    // One renewal per tenant at a time: a slow store must not pile them up.
    if (renewing.has(tenant)) return;
    renewing.add(tenant);
    store
      .update(
        tenant,
        (current) => {
          const now = Date.now();
          // Read at write time: a lease released meanwhile is not put back.
          const mine = [...(held.get(tenant) ?? new Map<string, Held>())].map(([id, lease]) => {
            const until = Math.min(now + timing.ttlMs, lease.deadline);
            lease.until = Math.max(lease.until, until);
            return { id, until };
          });
          return {
            write: mine.length > 0 ? JSON.stringify(renewLeases(parseTenantState(current), mine, now)) : undefined,
            result: undefined,
          };
        },
        { ungated: true },
      )
      .catch((err: unknown) =>
        warn(
          'renew_failed',
          err,
          'could not renew concurrency leases; ' +
            'retried at the next renewal, a lease lapses if none succeeds within its ttl',
        ),
      )
      .finally(() => renewing.delete(tenant));
  }

  function renewAll(): void {
    const now = Date.now();
    for (const [tenant, leases] of held) {
      for (const [id, lease] of leases) if (lease.deadline <= now) drop(tenant, id);
      if (held.has(tenant)) renewTenant(tenant);
    }
  }

  const removeOnce = (tenant: string, id: string, refund?: RateTier): Promise<boolean> =>
    store
      .update(
        tenant,
        (current) => {
          const next = releaseLease(parseTenantState(current), id, Date.now(), refund);
          return { write: next && JSON.stringify(next), result: true };
        },
        { ungated: true },
      )
      .catch((err: unknown) => {
        warn(
          'release_failed',
          err,
          'could not release a concurrency lease; retrying in the background until it would lapse',
        );
        return false;
      });

  async function retry(tenant: string, id: string, lapsesAt: number, refund?: RateTier): Promise<void> {
    for (let attempt = 1; attempt < MAX_RELEASE_ATTEMPTS; attempt++) {
      const pause = Math.random() * Math.min(RELEASE_BACKOFF_CAP_MS, RELEASE_BACKOFF_BASE_MS * 2 ** attempt);
      if (Date.now() + pause >= lapsesAt) return;
      await sleep(pause);
      if (await removeOnce(tenant, id, refund)) return;
    }
    warn(
      'release_gave_up',
      undefined,
      `gave up releasing a concurrency lease after ${MAX_RELEASE_ATTEMPTS} tries; ` +
        `it lapses by itself within ${timing.ttlMs} ms`,
    );
  }

  return {
    untilAt: (now, deadline) => Math.min(now + timing.ttlMs, deadline),
    hold(tenant, id, deadline, until) {
      let leases = held.get(tenant);
      if (!leases) held.set(tenant, (leases = new Map<string, Held>()));
      leases.set(id, { deadline, until });
      timer ??= setInterval(renewAll, timing.renewEveryMs).unref();
    },
    async release(tenant, id, lapsesAt, refund) {
      // Forgotten first, so no renewal puts it back once the release is written.
      const lease = drop(tenant, id);
      if (await removeOnce(tenant, id, refund)) return;
      // In the background: the request is over; a lease that cannot be removed lapses by itself.
      retry(tenant, id, lease?.until ?? lapsesAt, refund).catch((err: unknown) =>
        warn('release_failed', err, 'releasing a concurrency lease failed; it lapses by itself'),
      );
    },
  };
}
