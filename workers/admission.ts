import { AgentbusError } from '../bus-schemas/index.js';
import { systemClock, type Clock } from '../common/clock.js';
import type { OpenedAnswer, ProviderChains } from './providers/chain.js';
import type { ProviderEvent } from './providers/types.js';

/** How many model calls one worker runs at once, and how many requests may wait for one. */
export interface AdmissionSettings {
  /** MAX_INFLIGHT: model calls running at once, over all the worker's agents. */
  maxInflight: number;
  /** MAX_QUEUED: requests waiting for a free call; one more is refused with `overloaded`. */
  maxQueued: number;
  /** QUEUE_TIMEOUT_MS: longest wait for a free call before `overloaded`. */
  queueTimeoutMs: number;
}

export const ADMISSION_DEFAULTS: Readonly<AdmissionSettings> = Object.freeze({
  maxInflight: 4,
  maxQueued: 16,
  queueTimeoutMs: 10_000,
});

/** A model call's place; `release()` may be called more than once. */
export interface Slot {
  release(): void;
}

// Requests are aborted with an Error (an AgentbusError, or the platform's AbortError).
const abortReason = (signal: AbortSignal): Error => signal.reason as Error;

interface Waiter {
  grant(slot: Slot): void;
  refuse(error: Error): void;
}

/** What `$SRV.STATS` shows of the gate (worker-wide: every agent's calls share it). */
export interface AdmissionStats {
  model_calls: number;
  queued: number;
  max_inflight: number;
  max_queued: number;
  queue_timeout_ms: number;
}

/**
 * The worker's gate in front of the model: at most `maxInflight` calls run, at most `maxQueued`
 * requests wait in FIFO order for at most `queueTimeoutMs`, and anything past that is refused
 * at once with `overloaded` (retryable: the gateway tries again, maybe on another worker).
 * The queue is bounded, so a flood of requests costs this process a fixed amount of memory.
 */
export class Admission {
  #running = 0;
  // FIFO; never longer than maxQueued.
  readonly #waiting: Waiter[] = [];
  #closed: Error | undefined;
  readonly #clock: Clock;

  /** `clock` times the queue wait; a test passes a fake one and moves it instead of sleeping. */
  constructor(
    readonly settings: Readonly<AdmissionSettings>,
    clock: Clock = systemClock,
  ) {
    this.#clock = clock;
  }

  /** Model calls running now. */
  get running(): number {
    return this.#running;
  }

  /** Requests waiting for a call now. */
  get queued(): number {
    return this.#waiting.length;
  }

  stats(): AdmissionStats {
    const { maxInflight, maxQueued, queueTimeoutMs } = this.settings;
    return {
      model_calls: this.#running,
      queued: this.#waiting.length,
      max_inflight: maxInflight,
      max_queued: maxQueued,
      queue_timeout_ms: queueTimeoutMs,
    };
  }

  /**
   * A slot for one model call: at once if one is free and nobody waits before this request,
   * else after the requests ahead of it. Rejects with `overloaded` when the queue is full or
   * the wait passes `queueTimeoutMs`, and with `signal`'s reason when it aborts while waiting
   * (a cancel, the request's own deadline, a shutdown) — the request then leaves the queue.
   */
  acquire(signal: AbortSignal): Promise<Slot> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    if (this.#running < this.settings.maxInflight && this.#waiting.length === 0) {
      this.#running++;
      return Promise.resolve(this.#slot());
    }
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.#waiting.length >= this.settings.maxQueued) return Promise.reject(this.#overloaded('full'));
    return new Promise<Slot>((resolve, reject) => {
      const leave = () => {
        this.#clock.clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
      };
      const waiter: Waiter = {
        grant: (slot) => {
          leave();
          resolve(slot);
        },
        refuse: (error) => {
          leave();
          reject(error);
        },
      };
      const onAbort = () => waiter.refuse(abortReason(signal));
      const timer = this.#clock.setTimeout(
        () => waiter.refuse(this.#overloaded('timeout')),
        this.settings.queueTimeoutMs,
      );
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  /**
   * Stops queueing (the worker is shutting down): every waiting request is refused with
   * `reason` now, so its requester can try another worker instead of waiting out the drain,
   * and later requests run only if a call is free. Calls already running are not touched.
   */
  close(reason: Error): void {
    this.#closed = reason;
    for (const waiter of [...this.#waiting]) waiter.refuse(reason);
  }

  #slot(): Slot {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        // Handed straight to the oldest waiter, so a newcomer can never overtake the queue.
        const next = this.#waiting[0];
        if (next) next.grant(this.#slot());
        else this.#running--;
      },
    };
  }

  #overloaded(why: 'full' | 'timeout'): AgentbusError {
    const { maxInflight, maxQueued, queueTimeoutMs } = this.settings;
    const calls = `${maxInflight} model call${maxInflight === 1 ? '' : 's'}`;
    const busy = `This worker is already running its limit of ${calls} (MAX_INFLIGHT)`;
    const waiting = `${maxQueued} more request${maxQueued === 1 ? ' is' : 's are'} waiting`;
    const detail =
      why === 'full'
        ? `and ${waiting} (MAX_QUEUED), so it refused this one`
        : `and none finished within ${queueTimeoutMs} ms (QUEUE_TIMEOUT_MS) while this request waited`;
    return new AgentbusError(
      'overloaded',
      `${busy} ${detail}. Retry shortly, or start more workers for this agent (npm run worker) to add capacity.`,
    );
  }
}

/** A request's view of the chains with its model calls passing the gate, and the slots it holds. */
export interface AdmittedChains {
  providers: ProviderChains;
  /** Frees whatever slot the request still holds (its handler ended, however it ended). */
  releaseAll(): void;
}

/**
 * Wraps the worker's provider chains for one request: `open()` first waits for a slot, which is
 * held until the answer's events end. Gating here, at the model call itself, means the ack and
 * heartbeats already flow while the request waits (the gateway sees a live worker), and cache
 * hits and memory queries never take a slot.
 */
export function admittedChains(chains: ProviderChains, admission: Admission): AdmittedChains {
  const held = new Set<Slot>();
  const releaseAll = () => {
    for (const slot of held) slot.release();
    held.clear();
  };
  const providers: ProviderChains = {
    linksOf: (agent) => chains.linksOf(agent),
    provider: (name) => chains.provider(name),
    unavailable: (agent) => chains.unavailable(agent),
    async open(agent, request, log) {
      const slot = await admission.acquire(request.signal);
      held.add(slot);
      const release = () => {
        held.delete(slot);
        slot.release();
      };
      let opened: OpenedAnswer;
      try {
        opened = await chains.open(agent, request, log);
      } catch (err) {
        release();
        throw err;
      }
      return { ...opened, events: releasing(opened.events, release) };
    },
    async embed(agent, request, log) {
      const slot = await admission.acquire(request.signal);
      held.add(slot);
      try {
        return await chains.embed(agent, request, log);
      } finally {
        held.delete(slot);
        slot.release();
      }
    },
  };
  return { providers, releaseAll };
}

async function* releasing(events: AsyncIterable<ProviderEvent>, release: () => void): AsyncGenerator<ProviderEvent> {
  try {
    yield* events;
  } finally {
    release();
  }
}
