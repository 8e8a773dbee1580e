import type { RequestHints } from './types.js';

/**
 * The client's own time limit on an answer, if it set one. An OpenAI SDK's (`X-Stainless-Timeout`)
 * holds only until the response's headers arrive, and a stream sends them with its first token,
 * chunk or heartbeat: the SDK then reads on without a limit, so a streamed answer gets none from it.
 */
export function clientLimitMs(hints: RequestHints, streamed: boolean): number | undefined {
  return hints.timeoutUntilHeaders === true && streamed ? undefined : hints.timeoutMs;
}
