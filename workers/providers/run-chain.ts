import { AgentbusError, type FallbackStep } from '../../bus-schemas/index.js';
import type { Logger } from '../../common/logger.js';
import type { ProviderBreaker } from './breakers.js';

/** One link of a chain: a provider by name and the model asked of it. */
export interface ChainLink<Name extends string> {
  readonly provider: Name;
  readonly model: string;
}

/** What a chain run needs to know of its providers; chat and audio chains each supply theirs. */
export interface ChainRun<Name extends string, Provider> {
  links: readonly ChainLink<Name>[];
  /** Whether the provider keeps requests on this machine (LOCAL_PROVIDERS, LOCAL_AUDIO_PROVIDERS). */
  isLocal(name: Name): boolean;
  breakerOf(name: Name): ProviderBreaker;
  provider(name: Name): Provider;
  /** The error of a private request whose chain has no local provider at all. */
  noLocal(reasons: readonly string[]): AgentbusError;
  /**
   * The error when every provider failed or was skipped; `privacySkipped`: one was left out as not
   * local; `retryAfterMs`: when the first open circuit lets a trial through or the first rate-limited upstream's
   * Retry-After ends, if only those were in the way.
   */
  noneLeft(reasons: readonly string[], privacySkipped: boolean, retryAfterMs: number | undefined): AgentbusError;
}

/**
 * Errors that leave the next provider a fair chance: the backend is unwell or rate limited, lacks the model,
 * refused the worker's key for it or has no quota left on it, or (an audio engine) is not installed on this worker.
 */
function movesOn(err: unknown): err is AgentbusError {
  return (
    err instanceof AgentbusError &&
    (err.retryable ||
      err.code === 'backend_model_not_found' ||
      err.code === 'backend_auth_failed' ||
      err.code === 'backend_quota_exceeded' ||
      err.code === 'speech_engine_unavailable' ||
      err.code === 'transcription_engine_unavailable')
  );
}

/**
 * Calls `attempt` on each link of a chain in order until one succeeds; a link is skipped for
 * privacy or an open circuit, and left behind on a retryable error, a missing model or a refused key. Any other
 * error, or an abort, is the caller's at once. Shared by chat, embeddings and audio, so fallback,
 * breakers and the private rule mean the same everywhere.
 */
export async function firstAnswer<Name extends string, Provider, T>(
  run: ChainRun<Name, Provider>,
  isPrivate: boolean,
  signal: AbortSignal,
  reqLog: Logger,
  attempt: (chosen: Provider, link: ChainLink<Name>, isLocal: boolean) => Promise<T>,
): Promise<{ value: T; link: ChainLink<Name>; chosen: Provider; fallback: FallbackStep[] }> {
  const { links } = run;
  if (isPrivate && !links.some((link) => run.isLocal(link.provider)))
    throw run.noLocal(links.map((link) => `${link.provider}: not local and the request is private`));
  const fallback: FallbackStep[] = [];
  // Why each provider did not answer, for the error when none does.
  const reasons: string[] = [];
  let left: { provider: Name; reason: string; err?: unknown } | undefined;
  const failures: AgentbusError[] = [];
  // While every link is skipped by an open circuit or rate limited with a Retry-After (empty accounts aside): when
  // the first may answer.
  let reopensInMs: number | undefined;
  let onlyOpenCircuits = true;
  for (const link of links) {
    if (left) {
      fallback.push({ kind: 'provider', from: left.provider, to: link.provider, reason: left.reason });
      reqLog.warn(
        { from: left.provider, to: link.provider, reason: left.reason, err: left.err },
        `provider ${left.provider} did not answer (${left.reason}); trying ${link.provider}`,
      );
    }
    const isLocal = run.isLocal(link.provider);
    if (isPrivate && !isLocal) {
      reasons.push(`${link.provider}: not local and the request is private`);
      left = { provider: link.provider, reason: 'not_local' };
      continue;
    }
    const breaker = run.breakerOf(link.provider);
    const refusal = breaker.refusal();
    if (refusal) {
      reasons.push(`${link.provider}: ${refusal}`);
      left = { provider: link.provider, reason: 'circuit_open', err: refusal };
      const reopens = breaker.reopensInMs();
      if (reopens === undefined)
        onlyOpenCircuits = false; // half-open: its trial may end any moment
      else reopensInMs = Math.min(reopensInMs ?? reopens, reopens);
      continue;
    }
    const chosen = run.provider(link.provider);
    try {
      const value = await breaker.run(() => attempt(chosen, link, isLocal), signal);
      return { value, link, chosen, fallback };
    } catch (err) {
      if (signal.aborted || !movesOn(err)) throw err;
      if (err.code === 'backend_rate_limited' && err.retryAfterMs !== undefined)
        reopensInMs = Math.min(reopensInMs ?? err.retryAfterMs, err.retryAfterMs);
      // An empty account is left out of the wait like a private skip: no wait brings it back.
      else if (err.code !== 'backend_quota_exceeded') onlyOpenCircuits = false;
      failures.push(err);
      reasons.push(`${link.provider}: ${err.code}: ${err.message}`);
      left = { provider: link.provider, reason: err.code, err };
    }
  }
  // A one-provider chain keeps its provider's own error, which names the setting to fix —
  // with an open circuit, the error that opened it, saying it was not tried this time.
  if (reasons.length === 1 && failures.length === 1) throw failures[0]!;
  const retryAfterMs = onlyOpenCircuits && reopensInMs !== undefined ? Math.ceil(reopensInMs) : undefined;
  const last =
    reasons.length === 1 && left?.reason === 'circuit_open' ? run.breakerOf(left.provider).lastFailure() : undefined;
  if (last)
    throw new AgentbusError(last.code, `${last.message} (${reasons[0]}; not tried this time.)`, { retryAfterMs });
  const none = run.noneLeft(reasons, isPrivate && links.some((link) => !run.isLocal(link.provider)), retryAfterMs);
  const limit = upstreamLimit(failures);
  if (limit === undefined) throw none;
  throw new AgentbusError(limit, none.message, {
    retryAfterMs: limit === 'backend_rate_limited' ? retryAfterMs : undefined,
  });
}

/**
 * The 429 a chain ends with when the upstreams' own limits were all that stopped it (every provider tried answered
 * 429, the rest were skipped): the gateway then goes to the agent's fallback instead of asking the same agent, whose
 * every worker shares those limits, and the client gets a 429 rather than a 503. A rate limit among them makes the
 * chain rate limited (a wait brings that provider back); only empty accounts make it out of quota.
 */
function upstreamLimit(
  failures: readonly AgentbusError[],
): 'backend_rate_limited' | 'backend_quota_exceeded' | undefined {
  const limits = failures.map((failure) => failure.code);
  if (limits.length === 0 || !limits.every((c) => c === 'backend_rate_limited' || c === 'backend_quota_exceeded'))
    return undefined;
  return limits.includes('backend_rate_limited') ? 'backend_rate_limited' : 'backend_quota_exceeded';
}
