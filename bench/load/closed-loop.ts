import { Pool } from 'undici';
import { summarize, type LatencySummary } from './stats.js';
import { chatBody, type Target } from './target.js';

export interface ClosedLoopOptions {
  concurrency: number;
  /** Stop after this many requests in all… */
  maxRequests: number;
  /** …or after this long, whichever comes first. */
  durationMs: number;
  stream: boolean;
  /** Tokens each answer must carry to count as whole. */
  expectTokens: number;
}

export interface ClosedLoopResult {
  /** Non-streamed: whole response. Streamed: time to the first content token. */
  latency: LatencySummary;
  /** Streamed only: time to `[DONE]`. */
  total?: LatencySummary;
  ok: number;
  errors: number;
  /** Streams that ended without `[DONE]` or with fewer tokens than expected. */
  cut: number;
  requestsPerSecond: number;
  tokensPerSecond: number;
  /** Most streams open at the same moment (streamed only). */
  peakOpen: number;
  firstError?: string;
}

const TOKEN_CHARS = 'tok '.length;

/**
 * `concurrency` clients, each sending its next request as soon as the last one ended (a
 * closed loop), through an undici pool with one connection per client. Timed with hrtime:
 * autocannon's histogram has whole-millisecond buckets, too coarse for an added latency
 * under a millisecond. Streams are parsed as SSE and their tokens and `[DONE]` counted.
 */
export async function runClosedLoop(target: Target, options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const pool = new Pool(target.url, {
    connections: options.concurrency,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
    // 10,000 streams opened at once queue in the gateway's accept backlog longer than undici's 10 s.
    connectTimeout: 120_000,
  });
  const body = chatBody(target, options.stream);
  const headers = { ...target.headers, 'content-type': 'application/json' };
  const latencies: number[] = [];
  const totals: number[] = [];
  let ok = 0,
    errors = 0,
    cut = 0,
    tokens = 0,
    open = 0,
    peakOpen = 0,
    issued = 0;
  let firstError: string | undefined;
  const deadline = performance.now() + options.durationMs;
  const started = performance.now();

  const once = async () => {
    const t0 = performance.now();
    const res = await pool.request({ path: target.path, method: 'POST', headers, body });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new Error(`${target.name}: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
    }
    if (!options.stream) {
      const json = (await res.body.json()) as { choices?: Array<{ message?: { content?: string } }> };
      latencies.push(performance.now() - t0);
      const n = Math.round((json.choices?.[0]?.message?.content ?? '').length / TOKEN_CHARS);
      tokens += n;
      if (n < options.expectTokens) cut++;
      return;
    }
    open++;
    if (open > peakOpen) peakOpen = open;
    let buffer = '',
      chars = 0,
      done = false,
      first = true;
    try {
      for await (const chunk of res.body) {
        buffer += chunk.toString();
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event.startsWith('data: ') ? event.slice(6) : undefined;
          if (data === undefined) continue;
          if (data === '[DONE]') {
            done = true;
            continue;
          }
          const content = (JSON.parse(data) as { choices?: Array<{ delta?: { content?: string } }> }).choices?.[0]
            ?.delta?.content;
          if (content) {
            if (first) {
              latencies.push(performance.now() - t0);
              first = false;
            }
            chars += content.length;
          }
        }
      }
    } finally {
      open--;
    }
    totals.push(performance.now() - t0);
    const n = Math.round(chars / TOKEN_CHARS);
    tokens += n;
    if (!done || n < options.expectTokens) cut++;
  };

  const client = async () => {
    while (issued < options.maxRequests && performance.now() < deadline) {
      issued++;
      try {
        await once();
        ok++;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return {
    latency: summarize(latencies),
    ...(options.stream ? { total: summarize(totals) } : {}),
    ok,
    errors,
    cut,
    requestsPerSecond: Math.round(ok / seconds),
    tokensPerSecond: Math.round(tokens / seconds),
    peakOpen,
    ...(firstError ? { firstError } : {}),
  };
}
