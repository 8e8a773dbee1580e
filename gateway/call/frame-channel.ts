import type { ReplyFrame } from '../../bus-schemas/index.js';

/**
 * A one-consumer queue between the NATS callback (which pushes) and the request handler (which
 * iterates). Unbounded by design only because a request's frames are bounded by its answer;
 * the SSE writer applies socket backpressure on the consuming side.
 */
export class FrameChannel implements AsyncIterable<ReplyFrame> {
  #frames: ReplyFrame[] = [];
  #error: Error | undefined;
  #ended = false;
  #wake: (() => void) | undefined;

  push(frame: ReplyFrame): void {
    if (this.#ended) return;
    this.#frames.push(frame);
    this.#notify();
  }

  /** Ends the channel with an error, delivered after the frames already queued. */
  fail(error: Error): void {
    if (this.#ended) return;
    this.#error = error;
    this.#ended = true;
    this.#notify();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ReplyFrame> {
    for (;;) {
      const frame = this.#frames.shift();
      if (frame) yield frame;
      else if (this.#error) throw this.#error;
      else if (this.#ended) return;
      else
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
    }
  }
}
