import { runWebSocketSessions, type SessionsResult } from '../load/websocket-sessions.js';
import type { Target } from '../load/target.js';
import type { BenchOptions } from '../options.js';
import { RssSampler, rssMb } from './footprint.js';

export interface SessionsFigure {
  sessions: number;
  tokensPerSession: number;
  tokenDelayMs: number;
  result: SessionsResult;
  /**
   * Gateway RSS (MiB) before the sessions, once all are open and idle, and at the streaming peak;
   * per session (KiB): idle = open − before, streaming = peak − before, over the sessions open.
   */
  gatewayRss: {
    beforeMb: number;
    openMb: number;
    peakMb: number;
    perIdleSessionKb: number | null;
    perStreamingSessionKb: number | null;
  };
}

/**
 * Figure 3c: `streams` WebSocket sessions open at once, one streamed chat each, and what each
 * open session costs the gateway in resident memory (peak minus before, over the peak open).
 */
export async function measureWebSocketSessions(
  agentbus: Target,
  gatewayPid: number | undefined,
  options: BenchOptions,
  say: (line: string) => void,
): Promise<SessionsFigure> {
  const beforeMb = rssMb(gatewayPid);
  let openMb = NaN;
  const sampler = new RssSampler(() => ({ gateway: [gatewayPid] })).start();
  const result = await runWebSocketSessions(agentbus, {
    sessions: options.streams,
    expectTokens: options.streamTokens,
    durationMs: 60_000 + options.streams * 20,
    // Shorter than one answer (tokens × delay), so every session streams while most others do.
    rampMs: Math.round((options.streamTokens * options.streamTokenDelayMs) / 2),
    onAllReady: () => (openMb = rssMb(gatewayPid)),
  });
  const peakMb = sampler.stop().gateway ?? NaN;
  const perSession = (mb: number) =>
    result.peakOpen > 0 && Number.isFinite(mb - beforeMb)
      ? Math.round(((mb - beforeMb) * 1024) / result.peakOpen)
      : null;
  const perIdleSessionKb = perSession(openMb);
  const perStreamingSessionKb = perSession(peakMb);
  say(
    `websocket sessions: ${result.whole}/${options.streams} whole, ${result.lost} lost, ` +
      `peak ${result.peakOpen} open, ` +
      `gateway RSS ${beforeMb} → ${openMb} open → ${peakMb} MiB streaming ` +
      `(${perIdleSessionKb ?? '?'} / ${perStreamingSessionKb ?? '?'} KiB each)` +
      (result.firstError ? ` (first error: ${result.firstError})` : ''),
  );
  return {
    sessions: options.streams,
    tokensPerSession: options.streamTokens,
    tokenDelayMs: options.streamTokenDelayMs,
    result,
    gatewayRss: { beforeMb, openMb, peakMb, perIdleSessionKb, perStreamingSessionKb },
  };
}
