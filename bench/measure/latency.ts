import { runClosedLoop, type ClosedLoopResult } from '../load/closed-loop.js';
import { ratio, round } from '../load/stats.js';
import type { Target } from '../load/target.js';
import type { BenchOptions } from '../options.js';

type Pair = { p50: number; p99: number };

/** One concurrency level of figure 1 (non-streamed latency) or 2 (time to first token). */
export interface LatencyPoint {
  concurrency: number;
  /** Per target: exact p50/p99 in ms, with counts and errors. */
  targets: Record<string, ClosedLoopResult>;
  /** Target minus direct, ms. */
  added: Record<string, Pair>;
  /** agentbus / direct and agentbus / portkey of the p50 and p99 themselves. */
  ratios: { agentbusOverDirect: Pair | null; agentbusOverPortkey: Pair | null };
}

const pairRatio = (a: ClosedLoopResult | undefined, b: ClosedLoopResult | undefined): Pair | null => {
  if (!a || !b) return null;
  const p50 = ratio(a.latency.p50, b.latency.p50),
    p99 = ratio(a.latency.p99, b.latency.p99);
  return p50 === null || p99 === null ? null : { p50, p99 };
};

/**
 * Figures 1 and 2: the same requests sent straight to the upstream and through each gateway,
 * one target after the other at each concurrency level, closed loop.
 */
export async function measureLatency(
  targets: Target[],
  options: BenchOptions,
  stream: boolean,
  say: (line: string) => void,
): Promise<LatencyPoint[]> {
  const points: LatencyPoint[] = [];
  for (const concurrency of options.concurrency) {
    const results: Record<string, ClosedLoopResult> = {};
    for (const target of targets) {
      results[target.name] = await runClosedLoop(target, {
        concurrency,
        maxRequests: Math.max(options.pointRequests, concurrency),
        durationMs: options.pointMs,
        stream,
        expectTokens: options.tokens,
      });
      const r = results[target.name]!;
      say(
        `${stream ? 'ttft' : 'latency'} c=${concurrency} ${target.name}: ` +
          `p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms ` +
          `(${r.ok} ok, ${r.errors} errors${r.firstError ? `: ${r.firstError}` : ''})`,
      );
    }
    const direct = results['direct']!;
    const added: Record<string, Pair> = {};
    for (const [name, r] of Object.entries(results)) {
      if (name !== 'direct')
        added[name] = {
          p50: round(r.latency.p50 - direct.latency.p50),
          p99: round(r.latency.p99 - direct.latency.p99),
        };
    }
    points.push({
      concurrency,
      targets: results,
      added,
      ratios: {
        agentbusOverDirect: pairRatio(results['agentbus'], direct),
        agentbusOverPortkey: pairRatio(results['agentbus'], results['portkey']),
      },
    });
  }
  return points;
}
