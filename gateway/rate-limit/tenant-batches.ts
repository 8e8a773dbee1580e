import { StoreNotReopenedError, type TenantStore, type Update, type UpdateOptions } from './tenant-store.js';

// One entry's read-change-write covers at most this many updates; the rest wait for the next.
const MAX_BATCH = 256;

interface Pending {
  readonly change: Update<unknown>;
  readonly ungated: boolean;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown };

/**
 * The store with one compare-and-set per tenant at a time from this process: updates of a
 * tenant that arrive while one runs wait, then go together in arrival order as one read and
 * one write. Without this a burst of one key's requests on one replica races itself (all read
 * the same revision, all but one lose, some lose eight times and get a 429 with budget left);
 * with it only other replicas' writes make a compare-and-set lose. A batch shares its fate: if
 * the store fails, every update in it gets that error. Waiting is bounded by one update of the
 * inner store (its timeouts and attempts), never by the length of the queue.
 *
 * Gating is decided per update: a batch with admissions goes gated, so while a failed bucket
 * waits to be reopened they are turned away at once (then refused or let through, as
 * RATE_LIMIT_STORE_DOWN says) instead of waiting on an open a release in the same batch would
 * start; the batch's ungated updates (releases, renewals) then go again on their own, ungated.
 */
export function batchPerTenant(store: TenantStore): TenantStore {
  const waiting = new Map<string, Pending[]>();
  const busy = new Set<string>();

  async function drain(tenant: string): Promise<void> {
    busy.add(tenant);
    try {
      for (let queue = waiting.get(tenant); queue && queue.length > 0; queue = waiting.get(tenant)) {
        const batch = queue.splice(0, MAX_BATCH);
        if (queue.length === 0) waiting.delete(tenant);
        await run(tenant, batch);
      }
    } finally {
      busy.delete(tenant);
    }
  }

  async function run(tenant: string, batch: Pending[]): Promise<void> {
    const ungated = batch.every((pending) => pending.ungated);
    try {
      await apply(tenant, batch, ungated);
    } catch (err) {
      // Turned away before anything was read: only the gated ones had to be; the rest go again.
      const again = err instanceof StoreNotReopenedError ? batch.filter((pending) => pending.ungated) : [];
      for (const pending of batch) if (!(again.length > 0 && pending.ungated)) pending.reject(err);
      if (again.length > 0)
        await apply(tenant, again, true).catch((second: unknown) => {
          for (const pending of again) pending.reject(second);
        });
    }
  }

  /** One read-change-write for the whole batch; each update settles with its own outcome. */
  async function apply(tenant: string, batch: Pending[], ungated: boolean): Promise<void> {
    const outcomes = await store.update(
      tenant,
      (current) => {
        // Each change sees the value the ones before it would write; a change that throws (a
        // bug) fails alone and leaves the value as it was.
        let value = current;
        let write: string | undefined;
        const results = batch.map((pending): Outcome => {
          try {
            const out = pending.change(value);
            if (out.write !== undefined) value = write = out.write;
            return { ok: true, value: out.result };
          } catch (err) {
            return { ok: false, err };
          }
        });
        return { write, result: results };
      },
      { ungated },
    );
    outcomes.forEach((outcome, i) => (outcome.ok ? batch[i]!.resolve(outcome.value) : batch[i]!.reject(outcome.err)));
  }

  return {
    open: () => store.open(),
    update<R>(tenant: string, change: Update<R>, options: UpdateOptions = {}): Promise<R> {
      return new Promise<R>((resolve, reject) => {
        const pending: Pending = {
          change,
          ungated: options.ungated === true,
          resolve: resolve,
          reject,
        };
        const queue = waiting.get(tenant);
        if (queue) queue.push(pending);
        else waiting.set(tenant, [pending]);
        // Each update's own promise carries its outcome; drain itself never has one to report.
        if (!busy.has(tenant)) drain(tenant).catch(() => undefined);
      });
    },
  };
}
