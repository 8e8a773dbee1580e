import { runClosedLoop, type ClosedLoopResult } from './closed-loop.js';
import type { Target } from './target.js';

/**
 * The bench's warm-up of a target before it is measured (JIT, connections, statement caches):
 * `warmupRequests` closed-loop requests at concurrency 8. The caller judges the result.
 */
export function warmUp(
  target: Target,
  options: { warmupRequests: number; tokens: number },
  stream = false,
): Promise<ClosedLoopResult> {
  return runClosedLoop(target, {
    concurrency: 8,
    maxRequests: options.warmupRequests,
    durationMs: 30_000,
    stream,
    expectTokens: options.tokens,
  });
}
