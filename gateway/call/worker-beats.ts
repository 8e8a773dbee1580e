import { ALL_WORKER_BEATS, decodeWorkerBeat, WORKER_BEAT_MS } from '../../bus-schemas/index.js';
import type { Bus, BusMessage, BusSubscription } from '../../common/bus.js';
import { systemClock, type Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';

/** What a bus call asks of the workers' beats before it declares a silent worker lost. */
export interface AgentLiveness {
  /** Changes whenever a worker of `agent` appears, leaves, goes silent or has a new connection. */
  generation(agent: string): number;
  /**
   * Whether `agent` has beating workers and no change since `generation`: then a request published
   * at that generation is still waiting to be read by one of them, not lost with a dead one.
   */
  stillServing(agent: string, generation: number): boolean;
}

const NO_BEATS = 'cannot read worker beats; a silent request is declared lost at the silence limit';

interface Beating {
  connection: string;
  lastAt: number;
}

interface AgentWorkers {
  generation: number;
  readonly workers: Map<string, Beating>;
}

export interface WorkerBeatsOptions {
  /** The calls' silence limit: a worker not heard from for longer (or 3 beats) counts as gone. */
  silenceMs: number;
  log: Logger;
  /** Told each time a call waits on past its silence limit because the agent's workers beat. */
  onWait?: (agent: string) => void;
  clock?: Clock;
}

/**
 * The gateway's view of which workers serve each agent, from their beats (docs/bus.md, "Worker
 * beats"). A request's heartbeats start only once a worker reads it; in a burst a live worker may
 * read it after the silence limit. While every worker the agent had when the request was published
 * still beats on the same connection, none of them can have lost it: the call waits on, up to its
 * deadline. Any change (a worker silent, leaving, reconnected, or new) ends that waiting, as before.
 */
export class WorkerBeats implements AgentLiveness {
  readonly #agents = new Map<string, AgentWorkers>();
  readonly #sub: BusSubscription | undefined;
  readonly #staleMs: number;
  readonly #clock: Clock;
  readonly #options: WorkerBeatsOptions;
  #warned = false;

  constructor(bus: Bus, options: WorkerBeatsOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#staleMs = Math.max(options.silenceMs, 3 * WORKER_BEAT_MS);
    this.#sub = this.#subscribe(bus);
  }

  generation(agent: string): number {
    return this.#agents.get(agent)?.generation ?? 0;
  }

  stillServing(agent: string, generation: number): boolean {
    const entry = this.#agents.get(agent);
    if (!entry) return false;
    this.#dropSilent(entry);
    const serving = entry.generation === generation && entry.workers.size > 0;
    if (serving) this.#options.onWait?.(agent);
    return serving;
  }

  close(): void {
    this.#sub?.unsubscribe();
  }

  /** A gateway whose bus is closed still starts (and answers 503): it has no beats, as before them. */
  #subscribe(bus: Bus): BusSubscription | undefined {
    try {
      return bus.subscribe(ALL_WORKER_BEATS, { callback: (err, msg) => this.#onBeat(err, msg) });
    } catch (err) {
      this.#warnOnce(err, NO_BEATS);
      return undefined;
    }
  }

  #onBeat(err: Error | null, msg: BusMessage): void {
    if (err) {
      this.#warnOnce(err, NO_BEATS);
      return;
    }
    const agent = msg.subject.split('.')[3];
    if (agent === undefined) return;
    let beat;
    try {
      beat = decodeWorkerBeat(msg.data);
    } catch (error) {
      this.#warnOnce(error, 'ignored an invalid worker beat');
      return;
    }
    let entry = this.#agents.get(agent);
    if (!entry) {
      entry = { generation: 0, workers: new Map() };
      this.#agents.set(agent, entry);
    }
    const known = entry.workers.get(beat.worker);
    if (beat.leaving) {
      if (known && entry.workers.delete(beat.worker)) entry.generation++;
      return;
    }
    const now = this.#clock.now();
    if (known && known.connection === beat.connection) known.lastAt = now;
    else {
      entry.workers.set(beat.worker, { connection: beat.connection, lastAt: now });
      entry.generation++;
    }
    // Also here, so the workers of an agent nobody calls do not pile up across restarts.
    this.#dropSilent(entry);
  }

  #dropSilent(entry: AgentWorkers): void {
    const now = this.#clock.now();
    for (const [worker, beating] of entry.workers) {
      if (now - beating.lastAt <= this.#staleMs) continue;
      entry.workers.delete(worker);
      entry.generation++;
    }
  }

  #warnOnce(err: unknown, message: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#options.log.warn({ err }, message);
  }
}
