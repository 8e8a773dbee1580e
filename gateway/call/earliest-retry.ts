import type { AgentbusError } from '../../bus-schemas/index.js';

/**
 * When a retry can first succeed, for Retry-After, from each agent's failures in the order they
 * came (one list per agent). An agent counts only while its latest failure met open circuits: one
 * whose provider was tried and failed may answer now, and then there is no estimate. An earlier
 * failure may be what opened the circuit; the attempts may have met different workers, each with
 * breakers of its own: the earliest reopening of any.
 */
export function earliestRetry(failuresPerAgent: Iterable<readonly AgentbusError[]>): number | undefined {
  let earliest: number | undefined;
  for (const failures of failuresPerAgent) {
    if (failures.at(-1)?.retryAfterMs === undefined) return undefined;
    for (const { retryAfterMs } of failures)
      if (retryAfterMs !== undefined) earliest = Math.min(earliest ?? retryAfterMs, retryAfterMs);
  }
  return earliest;
}
