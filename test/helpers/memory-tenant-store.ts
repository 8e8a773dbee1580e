import { StoreUnavailableError, type TenantStore, type Update } from '../../gateway/rate-limit/tenant-store.js';

/**
 * A {@link TenantStore} in memory, for the limiter's unit tests: every update reads and writes
 * at once, or — while `down` — fails as an unreachable store does.
 */
export class MemoryTenantStore implements TenantStore {
  readonly entries = new Map<string, string>();
  down = false;
  writes = 0;

  open(): Promise<void> {
    return Promise.resolve();
  }

  update<R>(tenant: string, change: Update<R>): Promise<R> {
    if (this.down) return Promise.reject(new StoreUnavailableError('rate limit store: down (test)'));
    const { write, result } = change(this.entries.get(tenant));
    if (write !== undefined) {
      this.entries.set(tenant, write);
      this.writes++;
    }
    return Promise.resolve(result);
  }
}
