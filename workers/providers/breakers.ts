import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { Logger } from '../../common/logger.js';

/** BREAKER_FAILURES and BREAKER_COOLDOWN_MS. */
export interface BreakerSettings {
  failures: number;
  cooldownMs: number;
}

/** One provider's circuit breaker. */
export interface ProviderBreaker {
  /** Why the provider must be skipped now (open circuit, or a trial already running); undefined when it may be called. */
  refusal(): string | undefined;
  /** The error that last counted against the provider. */
  lastFailure(): AgentbusError | undefined;
  /**
   * Runs `attempt` — opening the provider's stream up to its first event — under the breaker.
   * An error counts as a failure only when it says the backend is unwell (a retryable
   * AgentbusError) and `signal` was not aborted: a cancel or deadline says nothing about it.
   */
  run<T>(attempt: () => Promise<T>, signal: AbortSignal): Promise<T>;
}

/** True when an error says the backend itself is failing (so trying it again soon is wasteful). */
export function isBackendOutage(err: unknown): boolean {
  return err instanceof AgentbusError && err.retryable;
}

// Carries an error thrown while the request was being aborted through cockatiel unseen by its
// filter, so the breaker counts it neither way.
class AbortedAttempt extends Error {
  constructor(readonly original: unknown) {
    super('aborted');
  }
}

function createBreaker(name: string, settings: BreakerSettings, log: Logger): ProviderBreaker {
  const policy = circuitBreaker(
    handleWhen((err) => !(err instanceof AbortedAttempt) && isBackendOutage(err)),
    {
      halfOpenAfter: settings.cooldownMs,
      breaker: new ConsecutiveBreaker(settings.failures),
    },
  );
  // cockatiel keeps when it opened to itself; the refusal message tells users how long is left.
  let openedAt = 0;
  let afterTrial = false;
  policy.onHalfOpen(() => {
    afterTrial = true;
  });
  policy.onBreak(() => {
    openedAt = Date.now();
    const last = policy.lastFailure && 'error' in policy.lastFailure ? policy.lastFailure.error : undefined;
    log.warn(
      { provider: name, err: last, cooldownMs: settings.cooldownMs },
      `${name}: circuit opened; skipping it for ${settings.cooldownMs} ms`,
    );
  });
  policy.onReset(() => {
    afterTrial = false;
    log.info({ provider: name }, `${name}: circuit closed`);
  });

  const lastFailure = () => {
    const last = policy.lastFailure;
    return last && 'error' in last && last.error instanceof AgentbusError ? last.error : undefined;
  };
  const lastCode = () => lastFailure()?.code ?? 'an error';

  return {
    refusal() {
      if (policy.state === CircuitState.HalfOpen) {
        return 'circuit half-open, its one trial request is still running (BREAKER_COOLDOWN_MS)';
      }
      if (policy.state !== CircuitState.Open) return undefined;
      const left = openedAt + settings.cooldownMs - Date.now();
      if (left <= 0) return undefined;
      const why = afterTrial
        ? `its trial request failed with ${lastCode()}`
        : `${settings.failures} consecutive failures, the last ${lastCode()}`;
      return `circuit open for another ${Math.ceil(left / 1000)} s after ${why} (BREAKER_FAILURES, BREAKER_COOLDOWN_MS)`;
    },
    lastFailure,
    async run(attempt, signal) {
      try {
        return await policy.execute(async () => {
          try {
            return await attempt();
          } catch (err) {
            throw signal.aborted ? new AbortedAttempt(err) : err;
          }
        });
      } catch (err) {
        throw err instanceof AbortedAttempt ? err.original : err;
      }
    },
  };
}

/**
 * The breakers of one worker process, one per provider name, made on first use. A provider
 * whose circuit is open is skipped without a network call, so a dead backend costs one fast
 * failure per request instead of a timeout. Half-open, cockatiel lets one trial through;
 * success closes the circuit, failure re-opens it. (An aborted trial counts neither way, which
 * cockatiel treats as closing: the next request is then a normal try.)
 */
export function createBreakers(settings: BreakerSettings, log: Logger): (name: string) => ProviderBreaker {
  const breakers = new Map<string, ProviderBreaker>();
  return (name) => {
    let breaker = breakers.get(name);
    if (!breaker) breakers.set(name, (breaker = createBreaker(name, settings, log)));
    return breaker;
  };
}
