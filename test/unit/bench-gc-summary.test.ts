import t from 'tap';
import { gcRecordOf, summariseGcs, type GcRecord } from '../../bench/gc/records.js';

const record = (type: string, young: [number, number], old: [number, number], costUs = 1000): GcRecord => ({
  type,
  costUs,
  youngBefore: young[0],
  youngAfter: young[1],
  oldBefore: old[0],
  oldAfter: old[1],
});

t.test('allocation is what the young space gained since the last collection; promotion, old growth', async (t) => {
  const summary = summariseGcs([
    record('Scavenge', [10_000, 2_000], [50_000, 51_000]),
    record('Scavenge', [12_000, 3_000], [51_000, 53_000], 2000),
    record('MarkSweepCompact', [5_000, 0], [53_000, 40_000], 5000),
    record('Scavenge', [9_000, 1_000], [40_000, 40_500]),
  ]);
  t.same(summary, {
    scavenges: 3,
    scavengeMs: 4,
    otherGcs: 1,
    otherGcMs: 5,
    allocated: 10_000 + 10_000 + 2_000 + 9_000,
    survived: 6_000,
    promoted: 3_500,
  });
});

t.test("a record is read from GCProfiler's spaces by name", async (t) => {
  const spaces = (young: number, old: number) => ({
    heapSpaceStatistics: [
      { spaceName: 'old_space', spaceUsedSize: old },
      { spaceName: 'new_space', spaceUsedSize: young },
    ],
  });
  t.same(gcRecordOf({ gcType: 'Scavenge', cost: 700, beforeGC: spaces(9, 20), afterGC: spaces(2, 25) }), {
    type: 'Scavenge',
    costUs: 700,
    youngBefore: 9,
    youngAfter: 2,
    oldBefore: 20,
    oldAfter: 25,
  });
});
