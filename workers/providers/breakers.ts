import { AgentbusError } from '../../bus-schemas/index.js';
import { systemClock, type Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';

/** BREAKER_FAILURES and BREAKER_COOLDOWN_MS. */
export interface BreakerSettings {
  failures: number;
  cooldownMs: number;
}

/** One provider's circuit breaker. */
export interface ProviderBreaker {
  /** Why the provider must be skipped now (open circuit, or a trial running); undefined when it may be called. */
  refusal(): string | undefined;
  /** The error that last counted against the provider. */
  lastFailure(): AgentbusError | undefined;
  /** While the circuit is open: how long until it lets a trial request through (a client's Retry-After). */
  reopensInMs(): number | undefined;
  /**
   * Runs `attempt` — opening the provider's stream up to its first event — under the breaker.
   * An error counts as a failure only when it says the backend is unwell (a retryable
   * AgentbusError) and `signal` was not aborted: a cancel or deadline says nothing about it.
   * Call it only right after `refusal()` returned undefined; with the cooldown over, this call
   * is the circuit's one trial.
   */
  run<T>(attempt: () => Promise<T>, signal: AbortSignal): Promise<T>;
}

/**
 * True when an error says the backend itself is failing (so trying it again soon is wasteful). Not its rate
 * limit: a busy backend is well, and its 429s would otherwise shut it for every agent and model on it.
 */
export function isBackendOutage(err: unknown): boolean {
  return err instanceof AgentbusError && err.retryable && err.code !== 'backend_rate_limited';
}

type Circuit =
  | { state: 'closed' }
  // afterTrial: it re-opened because a half-open trial failed (the refusal says which).
  | { state: 'open'; since: number; afterTrial: boolean }
  | { state: 'half-open' };

/**
 * A breaker on consecutive failures: `failures` in a row open the circuit for `cooldownMs` on
 * `clock`; then one trial runs (half-open), and its success closes the circuit while its
 * failure opens it again. A trial that ends without a verdict (aborted, or an error that is
 * not the backend's) closes it but keeps the streak, so one more failure re-opens it.
 */
export function createBreaker(
  name: string,
  settings: BreakerSettings,
  log: Logger,
  clock: Clock = systemClock,
): ProviderBreaker {
  let circuit: Circuit = { state: 'closed' };
  // Counted failures since the last success; calls started before a change still report here.
  let streak = 0;
  let last: AgentbusError | undefined;

  const open = () => {
    if (circuit.state === 'open') return;
    circuit = { state: 'open', since: clock.now(), afterTrial: circuit.state === 'half-open' };
    log.warn(
      { provider: name, err: last, cooldownMs: settings.cooldownMs },
      `${name}: circuit opened; skipping it for ${settings.cooldownMs} ms`,
    );
  };
  const closeAfterTrial = () => {
    if (circuit.state !== 'half-open') return;
    circuit = { state: 'closed' };
    log.info({ provider: name }, `${name}: circuit closed`);
  };

  const reopensInMs = (): number | undefined => {
    if (circuit.state !== 'open') return undefined;
    const left = circuit.since + settings.cooldownMs - clock.now();
    return left > 0 ? left : undefined;
  };

  const refusal = (): string | undefined => {
    if (circuit.state === 'half-open') {
      return 'circuit half-open, its one trial request is still running (BREAKER_COOLDOWN_MS)';
    }
    if (circuit.state === 'closed') return undefined;
    const left = reopensInMs();
    if (left === undefined) return undefined; // the cooldown is over: the next call is the trial
    const lastCode = last?.code ?? 'an error';
    const why = circuit.afterTrial
      ? `its trial request failed with ${lastCode}`
      : `${settings.failures} consecutive failures, the last ${lastCode}`;
    return `circuit open for another ${Math.ceil(left / 1000)} s after ${why} (BREAKER_FAILURES, BREAKER_COOLDOWN_MS)`;
  };

  return {
    refusal,
    lastFailure: () => last,
    reopensInMs,
    async run(attempt, signal) {
      const refused = refusal();
      if (refused) throw new Error(`${name} was called although its breaker refuses: ${refused}`);
      const trial = circuit.state === 'open';
      if (trial) circuit = { state: 'half-open' };
      try {
        const value = await attempt();
        streak = 0;
        if (trial) closeAfterTrial();
        return value;
      } catch (err) {
        if (!signal.aborted && isBackendOutage(err)) {
          last = err as AgentbusError;
          streak++;
          if (trial || streak >= settings.failures) open();
        } else if (trial) {
          closeAfterTrial();
        }
        throw err;
      }
    },
  };
}

/**
 * The breakers of one worker process, one per provider name, made on first use. A provider
 * whose circuit is open is skipped without a network call, so a dead backend costs one fast
 * failure per request instead of a timeout.
 */
export function createBreakers(
  settings: BreakerSettings,
  log: Logger,
  clock: Clock = systemClock,
): (name: string) => ProviderBreaker {
  const breakers = new Map<string, ProviderBreaker>();
  return (name) => {
    let breaker = breakers.get(name);
    if (!breaker) breakers.set(name, (breaker = createBreaker(name, settings, log, clock)));
    return breaker;
  };
}
