/** What GCProfiler reports of one collection (the fields used here). */
export interface GcStatistics {
  gcType: string;
  /** Microseconds on the main thread. */
  cost: number;
  beforeGC: { heapSpaceStatistics: Array<{ spaceName: string; spaceUsedSize: number }> };
  afterGC: { heapSpaceStatistics: Array<{ spaceName: string; spaceUsedSize: number }> };
}

/** One collection, as bench/gc/summary.ts reads it: bytes used in the young and old spaces before and after. */
export interface GcRecord {
  type: string;
  costUs: number;
  youngBefore: number;
  youngAfter: number;
  oldBefore: number;
  oldAfter: number;
}

const used = (spaces: GcStatistics['beforeGC']['heapSpaceStatistics'], name: string) =>
  spaces.find((space) => space.spaceName === name)?.spaceUsedSize ?? 0;

export function gcRecordOf(gc: GcStatistics): GcRecord {
  return {
    type: gc.gcType,
    costUs: gc.cost,
    youngBefore: used(gc.beforeGC.heapSpaceStatistics, 'new_space'),
    youngAfter: used(gc.afterGC.heapSpaceStatistics, 'new_space'),
    oldBefore: used(gc.beforeGC.heapSpaceStatistics, 'old_space'),
    oldAfter: used(gc.afterGC.heapSpaceStatistics, 'old_space'),
  };
}

/** A process's collections in sum: what its scavenges were given, kept and promoted. */
export interface GcSummary {
  scavenges: number;
  scavengeMs: number;
  otherGcs: number;
  otherGcMs: number;
  /** Bytes allocated in the young generation between collections. */
  allocated: number;
  /** Bytes the scavenges kept in the young generation (survived once). */
  survived: number;
  /** Bytes the scavenges moved to the old generation (survived twice, or too large). */
  promoted: number;
}

/**
 * Sums `records` in order. Allocated: the young space's use before a collection less its use after
 * the one before. Promoted: the old space's growth across a scavenge (nothing else adds to it then).
 */
export function summariseGcs(records: readonly GcRecord[]): GcSummary {
  const sum: GcSummary = {
    scavenges: 0,
    scavengeMs: 0,
    otherGcs: 0,
    otherGcMs: 0,
    allocated: 0,
    survived: 0,
    promoted: 0,
  };
  let youngLeft = 0;
  for (const gc of records) {
    sum.allocated += Math.max(0, gc.youngBefore - youngLeft);
    youngLeft = gc.youngAfter;
    if (gc.type !== 'Scavenge') {
      sum.otherGcs++;
      sum.otherGcMs += gc.costUs / 1000;
      continue;
    }
    sum.scavenges++;
    sum.scavengeMs += gc.costUs / 1000;
    sum.survived += gc.youngAfter;
    sum.promoted += Math.max(0, gc.oldAfter - gc.oldBefore);
  }
  return sum;
}
