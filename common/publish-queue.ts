import type { PublishOptions } from './bus.js';

type Send = (subject: string, data: Uint8Array, options: PublishOptions | undefined) => void;

/**
 * Holds the publishes of one event-loop turn and hands them to nats.js together, in order, in
 * that turn's check phase (setImmediate). nats.js joins what is published within one microtask
 * run into one socket write, but each frame of an answer, and each of many concurrent requests,
 * is published from its own I/O callback: published at once, every one was its own write(2),
 * the largest CPU cost of the worker in the profile (BENCHMARKS.md). Queued, they are one.
 * This uses only nats.js's public `publish`; the Bus checks each publish before queueing it.
 */
export class PublishQueue {
  #subjects: string[] = [];
  #payloads: Uint8Array[] = [];
  #options: Array<PublishOptions | undefined> = [];
  #scheduled = false;
  readonly #flush = () => this.flush();

  constructor(
    private readonly send: Send,
    private readonly onError: (err: unknown) => void,
  ) {}

  push(subject: string, data: Uint8Array, options: PublishOptions | undefined): void {
    this.#subjects.push(subject);
    this.#payloads.push(data);
    this.#options.push(options);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Hands everything queued to nats.js now (before a request, flush, drain or close). */
  flush(): void {
    this.#scheduled = false;
    const subjects = this.#subjects;
    if (subjects.length === 0) return;
    const payloads = this.#payloads;
    const options = this.#options;
    this.#subjects = [];
    this.#payloads = [];
    this.#options = [];
    for (let i = 0; i < subjects.length; i++) {
      try {
        this.send(subjects[i]!, payloads[i]!, options[i]);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
