import type { Kysely } from 'kysely';
import type { MemoryDatabase } from '../../workers/memory/schema.js';

const EXECUTE = new Set(['execute', 'executeTakeFirst', 'executeTakeFirstOrThrow', 'stream']);

/**
 * Resolves once no turn is pending (bounded): a turn is committed a moment after its client
 * received the answer (the receipt travels back to the worker), so a test that reads memory right
 * after a response would otherwise race that commit.
 */
export async function pendingSettled(db: Kysely<MemoryDatabase>, maxWaitMs = 5000): Promise<void> {
  const until = Date.now() + maxWaitMs;
  for (;;) {
    const pending = await db.selectFrom('turns').select('id').where('state', '=', 'pending').limit(1).execute();
    if (pending.length === 0 || Date.now() >= until) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * `db` for a test's own reads: every query it builds waits for pending turns to settle before it
 * runs, so assertions see memory as the clients left it. The workers keep the plain instance.
 */
export function settledReads(db: Kysely<MemoryDatabase>): Kysely<MemoryDatabase> {
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, property, receiver) {
        const value: unknown = Reflect.get(object, property, receiver);
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => unknown;
        if (typeof property === 'string' && EXECUTE.has(property)) {
          return async (...args: unknown[]) => {
            await pendingSettled(db);
            return method.apply(object, args);
          };
        }
        return (...args: unknown[]) => {
          const result = method.apply(object, args);
          // Builders return builders: keep wrapping until something executes.
          return result !== null && typeof result === 'object' && 'execute' in result ? wrap(result) : result;
        };
      },
    });
  return wrap(db);
}
