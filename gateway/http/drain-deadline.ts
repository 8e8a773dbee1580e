import type { ServerResponse } from 'node:http';
import { AgentbusError } from '../../bus-schemas/index.js';
import { withTimeout } from '../../common/timeout.js';
import type { Call } from '../call/call.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The gateway's one drain deadline for the JSON answers it awaits (see {@link DrainDeadline}). */
    drainDeadline: DrainDeadline;
  }
}

/**
 * GATEWAY_DRAIN_TIMEOUT_MS as the non-streamed answers see it. A draining gateway closes every
 * connection still open at that deadline (server.ts); a JSON answer still being made has sent
 * nothing yet, so its client would get an empty reply (curl's "empty reply", an SDK's connection
 * error) and no clue that trying again is right. Instead its call is closed first, as if its
 * client had left (the worker cancels; nothing is stored, so a retry adds no phantom turn), and
 * its route answers 503 `bus_unavailable` ({@link shutDownBeforeAnswer}), which SDKs retry.
 * Streams have sent their headers already: they are cut as before, without `[DONE]`.
 *
 * One object for the whole gateway: an awaited answer costs a Map entry, no listener or closure
 * (CPU per request is measured, BENCHMARKS.md).
 */
export class DrainDeadline {
  #passed = false;
  // Each awaited call with the response it is for, whose end the deadline waits for.
  readonly #awaited = new Map<Call, ServerResponse>();

  /** True once the deadline has passed. */
  get passed(): boolean {
    return this.#passed;
  }

  /** `call`'s whole answer is awaited for `response` (nothing sent yet); closed at once when the deadline passed. */
  awaiting(call: Call, response: ServerResponse): void {
    if (this.#passed) call.close(shutDownBeforeAnswer());
    else this.#awaited.set(call, response);
  }

  /** `call`'s answer is no longer awaited (it came, failed, or its client left). */
  settled(call: Call): void {
    this.#awaited.delete(call);
  }

  /**
   * The deadline passes: every awaited call is closed, and its route answers 503. Resolves once
   * those answers are written (or after `flushMs`): closing the connections sooner would lose them.
   * Returns how many answers were awaited.
   */
  async pass(flushMs: number): Promise<number> {
    this.#passed = true;
    const awaited = [...this.#awaited];
    this.#awaited.clear();
    for (const [call] of awaited) call.close(shutDownBeforeAnswer());
    const written = awaited.map(([, response]) => responseEnd(response));
    await withTimeout(Promise.all(written), flushMs, () => undefined);
    return awaited.length;
  }
}

/** Resolves once `response` is written whole (handed to the OS) or its connection is gone. */
function responseEnd(response: ServerResponse): Promise<void> {
  if (response.writableFinished || response.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    response.once('finish', resolve).once('close', resolve);
  });
}

/** What a client whose answer was still being made at the deadline is told: retry, nothing was stored. */
export function shutDownBeforeAnswer(): AgentbusError {
  return new AgentbusError(
    'bus_unavailable',
    'The gateway shut down before this answer was ready (GATEWAY_DRAIN_TIMEOUT_MS); nothing was stored. ' +
      'Send the request again (to another replica, or once this one is back).',
  );
}
