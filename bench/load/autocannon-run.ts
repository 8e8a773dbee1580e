import autocannon from 'autocannon';
import { chatBody, type Target } from './target.js';

export interface ThroughputResult {
  requestsPerSecond: number;
  /** autocannon's latency, whole milliseconds. */
  p50Ms: number;
  p99Ms: number;
  total: number;
  non2xx: number;
  errors: number;
}

/** Requests/s of non-streamed chat completions with autocannon, `connections` at once. */
export async function runAutocannon(target: Target, connections: number, durationS: number): Promise<ThroughputResult> {
  const result = await autocannon({
    url: `${target.url}${target.path}`,
    method: 'POST',
    headers: { ...target.headers, 'content-type': 'application/json' },
    body: chatBody(target, false),
    connections,
    duration: durationS,
    timeout: 30,
  });
  return {
    // Only answered requests count: an error page is fast but serves nobody.
    requestsPerSecond: Math.round(result['2xx'] / result.duration),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}
