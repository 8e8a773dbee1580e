import { decodeWorkerBeat, WORKER_BEAT_MS, type Subjects } from '../../bus-schemas/index.js';
import type { Bus, BusMessage, BusSubscription } from '../../common/bus.js';
import { systemClock, type Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';

/** What a bus call asks of the workers' beats before it declares a silent worker lost. */
export interface AgentLiveness {
  /** Changes whenever a worker of `agent` may have lost what was sent to it (it left, or reconnected). */
  generation(agent: string): number;
  /**
   * Whether a request to `agent` published at `generation` is still waiting to be read by a live
   * worker: the agent has workers, all beating now, and none left or reconnected since.
   */
  stillServing(agent: string, generation: number): boolean;
}

/**
 * How long a worker that went silent, or reconnected, may still be handed requests on a connection
 * nobody reads: nats-server closes a client that stops answering its pings on the third ping tick,
 * 4–6 minutes at its defaults (a frozen process, a half-open TCP connection after a reset on the
 * worker's side). Meanwhile nothing of its agent is waited for: silence is `worker_lost` at the limit.
 */
export const UNSURE_FOR_MS = 10 * 60_000;

const NO_BEATS = 'cannot read worker beats; a silent request is declared lost at the silence limit';

interface Beating {
  connection: string;
  lastAt: number;
  /** Until when its previous connection may still take requests at nats-server (it reconnected). */
  unsureUntil: number;
}

interface AgentWorkers {
  generation: number;
  readonly workers: Map<string, Beating>;
}

export interface WorkerBeatsOptions {
  /** The calls' silence limit: a worker not heard from for longer (and at least 3 beats) is silent. */
  silenceMs: number;
  subjects: Pick<Subjects, 'allWorkerBeats'>;
  /** The catalog's agents: beats for any other name are ignored (they would only take memory). */
  agents: readonly string[];
  log: Logger;
  /** Told each time a call waits past a silence limit because the agent's workers beat. */
  onWait?: (agent: string) => void;
  clock?: Clock;
}

/**
 * The gateway's view of which workers serve each agent, from their beats (docs/bus.md, "Worker
 * beats"). A request's heartbeats start only once a worker reads it; in a burst a live worker may
 * read it after the silence limit. While every worker of the agent beats now, on the connection it
 * had when the request was published, none can have lost it: the call waits on. A worker that is
 * slow to beat only pauses that (it lost nothing); one that left or reconnected ends it.
 */
export class WorkerBeats implements AgentLiveness {
  readonly #agents = new Map<string, AgentWorkers>();
  readonly #sub: BusSubscription | undefined;
  readonly #clock: Clock;
  readonly #options: WorkerBeatsOptions;
  readonly #silentAfterMs: number;
  #warned = false;

  constructor(bus: Bus, options: WorkerBeatsOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#silentAfterMs = Math.max(options.silenceMs, 3 * WORKER_BEAT_MS);
    for (const agent of options.agents) this.#agents.set(agent, { generation: 0, workers: new Map() });
    this.#sub = this.#subscribe(bus);
  }

  generation(agent: string): number {
    return this.#agents.get(agent)?.generation ?? 0;
  }

  stillServing(agent: string, generation: number): boolean {
    const entry = this.#agents.get(agent);
    if (!entry) return false;
    this.#forgetLongSilent(entry);
    const now = this.#clock.now();
    let serving = entry.generation === generation && entry.workers.size > 0;
    for (const beating of entry.workers.values()) {
      if (now - beating.lastAt > this.#silentAfterMs || now < beating.unsureUntil) serving = false;
    }
    if (serving) this.#options.onWait?.(agent);
    return serving;
  }

  close(): void {
    this.#sub?.unsubscribe();
  }

  /** A gateway whose bus is closed still starts (and answers 503): it has no beats, as before them. */
  #subscribe(bus: Bus): BusSubscription | undefined {
    try {
      return bus.subscribe(this.#options.subjects.allWorkerBeats, { callback: (err, msg) => this.#onBeat(err, msg) });
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
    const entry = this.#agents.get(msg.subject.split('.')[3] ?? '');
    if (!entry) return;
    let beat;
    try {
      beat = decodeWorkerBeat(msg.data);
    } catch (error) {
      this.#warnOnce(error, 'ignored an invalid worker beat');
      return;
    }
    const known = entry.workers.get(beat.worker);
    if (beat.leaving) {
      // Conservative: what it had not read when it stopped listening is answered in its drain, or lost.
      if (entry.workers.delete(beat.worker)) entry.generation++;
    } else if (known && known.connection === beat.connection) {
      // Silent a while and beating again on the same connection: slow, it lost nothing.
      known.lastAt = this.#clock.now();
    } else {
      // A new worker cannot have lost anything yet. A new connection may have lost what the old one
      // held, and nats-server may still route to the old one until it finds it dead.
      const now = this.#clock.now();
      if (known) entry.generation++;
      const unsureUntil = known ? now + UNSURE_FOR_MS : 0;
      entry.workers.set(beat.worker, { connection: beat.connection, lastAt: now, unsureUntil });
    }
    this.#forgetLongSilent(entry);
  }

  /** A worker silent this long is gone from nats-server too: it no longer keeps its agent's calls from waiting. */
  #forgetLongSilent(entry: AgentWorkers): void {
    const now = this.#clock.now();
    for (const [worker, beating] of entry.workers) {
      if (now - beating.lastAt > UNSURE_FOR_MS) entry.workers.delete(worker);
    }
  }

  #warnOnce(err: unknown, message: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#options.log.warn({ err }, message);
  }
}
