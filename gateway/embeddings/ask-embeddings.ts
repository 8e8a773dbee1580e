import { headers as natsHeaders } from '@nats-io/transport-node';
import {
  AgentbusError,
  EMBED_HEARTBEAT_HEADER,
  decodeEmbedReply,
  encodeJson,
  errorFromWire,
  inboxScopes,
  type EmbedRequest,
  type EmbedVectorsReply,
} from '../../bus-schemas/index.js';
import {
  isNoRespondersReply,
  isOverMaxPayload,
  type Bus,
  type BusMessage,
  type BusSubscription,
} from '../../common/bus.js';
import { systemClock, type Clock, type TimerHandle } from '../../common/clock.js';
import type { SignalLike } from '../../common/light-signal.js';
import { RECONNECT_WAIT_MS, waitConnected } from '../../common/wait-connected.js';
import { announceCancel } from '../call/announce-cancel.js';
import { silenceLimitOf } from '../call/bus-call.js';

export interface AskEmbeddingsOptions {
  subject: string;
  /** `<prefix>.<agent>.cancel`: told whenever this attempt is given up while a worker may hold it. */
  cancelSubject: string;
  /** Where a copy of the request goes for the audit stream (AUDIT=on); absent, none is sent. */
  auditSubject?: string | undefined;
  /**
   * How long a worker may take to show it took the request (its `ack`, or the answer) before this
   * attempt is given up (`first_token_timeout`, which a retry may fix); absent, the deadline.
   */
  waitMs?: number | undefined;
  /** HEARTBEAT_MS: asked of the worker; silence past 3 of them after its `ack` is `worker_lost`. */
  heartbeatMs: number;
  /** Aborts when the client left: the worker is told to stop. */
  signal?: SignalLike | undefined;
  /** How long a request waits for a reconnecting bus before `bus_unavailable`; default RECONNECT_WAIT_MS. */
  reconnectWaitMs?: number | undefined;
  clock?: Clock | undefined;
}

/**
 * Asks one worker of the agent's queue group for the vectors and waits for its answer (the
 * embeddings or an error, rebuilt into the worker's error). The request asks for progress
 * replies: a worker that sends its `ack` and heartbeats is waited for however long the batch
 * takes (up to the deadline), and only silence — no `ack` within `waitMs`, or no heartbeat for the
 * silence limit after it — gives it up. A worker from before sends none: `waitMs` then bounds it,
 * as before. Every give-up while a worker may hold the request (silence, the deadline, the client
 * leaving, a broken reply) announces a cancel, so abandoned work frees the worker's slots.
 */
export function askEmbeddings(
  bus: Bus,
  request: EmbedRequest,
  options: AskEmbeddingsOptions,
): Promise<EmbedVectorsReply> {
  return new Promise((resolve, reject) => new EmbedAttempt(bus, request, options, resolve, reject).start());
}

class EmbedAttempt {
  readonly #clock: Clock;
  readonly #agent: string;
  #sub: BusSubscription | undefined;
  #silenceTimer: TimerHandle | undefined;
  #deadlineTimer: TimerHandle | undefined;
  readonly #unwatch: Array<() => void> = [];
  #over = false;

  constructor(
    private readonly bus: Bus,
    private readonly request: EmbedRequest,
    private readonly options: AskEmbeddingsOptions,
    private readonly resolve: (reply: EmbedVectorsReply) => void,
    private readonly reject: (error: AgentbusError) => void,
  ) {
    this.#clock = options.clock ?? systemClock;
    this.#agent = request.intent;
  }

  /** Publishes now, or once a reconnecting bus is back (as chat's bus call): never into nats.js's buffer. */
  start(): void {
    const waitMs = Math.min(this.options.reconnectWaitMs ?? RECONNECT_WAIT_MS, this.request.timeout_ms);
    if (this.bus.connected || this.bus.closed || waitMs <= 0) return this.#begin();
    const until = this.options.signal ? [this.options.signal] : [];
    // It never rejects; the handler only satisfies the rule.
    waitConnected(this.bus, waitMs, { clock: this.#clock, until }).then(
      () => this.#begin(),
      (err: unknown) => this.#end(busRefused(err), false),
    );
  }

  #begin(): void {
    const { signal } = this.options;
    if (signal?.aborted) return this.#end(clientLeft(), false);
    try {
      if (this.bus.closed) throw new Error('the connection is closed');
      if (!this.bus.connected) throw new Error(this.bus.problem ?? 'disconnected');
      this.#publish();
    } catch (err) {
      return this.#end(tooLargeForBus(err, this.bus.maxPayload, this.request.input.length) ?? busRefused(err), false);
    }
    // The answer would be lost while cut off: say so now, not after the silence limit (a retry may reconnect).
    this.#unwatch.push(
      this.bus.onChange((state) => {
        if (state.connected) return;
        const why = `${state.problem ?? 'disconnected'} (the connection dropped before the embeddings came)`;
        this.#end(busRefused(new Error(why)));
      }),
    );
    // A second past the worker's own limit, so its deadline error arrives before ours.
    const deadlineMs = this.request.timeout_ms + 1_000;
    this.#deadlineTimer = this.#clock.setTimeout(
      () =>
        this.#end(new AgentbusError('deadline_exceeded', `No worker answered the embeddings within ${deadlineMs} ms.`)),
      deadlineMs,
    );
    const { waitMs } = this.options;
    if (waitMs !== undefined && waitMs < deadlineMs) {
      this.#silenceTimer = this.#clock.setTimeout(
        () =>
          this.#end(
            new AgentbusError(
              'first_token_timeout',
              `The worker of "${this.#agent}" answered nothing within ${waitMs} ms (FIRST_TOKEN_TIMEOUT_MS).`,
            ),
          ),
        waitMs,
      );
    }
    if (signal) {
      const onAbort = () => this.#end(clientLeft());
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unwatch.push(() => signal.removeEventListener('abort', onAbort));
    }
  }

  #publish(): void {
    // The agent's chat inbox: a worker credential scoped to the agent may answer only there.
    this.#sub = this.bus.subscribeInbox(inboxScopes.chat(this.#agent), (err, msg) => this.#onMessage(err, msg));
    const data = encodeJson(this.request);
    // Without a reply subject, as for chat: the audit stream (no_ack) records it, nobody answers it.
    if (this.options.auditSubject) this.bus.publish(this.options.auditSubject, data, { headers: this.#headers() });
    const live = this.#headers();
    // Only the live request asks for progress replies: a replay of the audit copy reads one reply.
    live.set(EMBED_HEARTBEAT_HEADER, String(this.options.heartbeatMs));
    this.bus.publish(this.options.subject, data, { reply: this.#sub.getSubject(), headers: live });
  }

  #headers() {
    const h = natsHeaders();
    h.set('Agentbus-Request-Id', this.request.request_id);
    if (this.request.traceparent) h.set('traceparent', this.request.traceparent);
    return h;
  }

  #onMessage(err: Error | null, msg: BusMessage): void {
    if (this.#over) return;
    if (err) {
      // An AgentbusError is what the bus's owner tells the client instead (a stopping gateway's 503).
      if (err instanceof AgentbusError) return this.#end(err);
      const message = `The reply subscription failed: ${err.message}`;
      return this.#end(new AgentbusError('bus_unavailable', message, { cause: err }));
    }
    if (isNoRespondersReply(msg)) {
      const message =
        `No worker serves the embedding agent "${this.#agent}". ` + 'Start one with "npm run worker" (or "npm start").';
      return this.#end(new AgentbusError('no_worker', message), false);
    }
    let reply;
    try {
      reply = decodeEmbedReply(msg.data);
    } catch (error) {
      return this.#end(AgentbusError.from(error));
    }
    if (reply.type === 'embeddings') return this.#end(reply, false);
    if (reply.type === 'error') return this.#end(errorFromWire(reply.error), false);
    // `ack` or `heartbeat`: the worker holds the request and works; only its silence ends the wait now.
    this.#armSilence();
  }

  #armSilence(): void {
    const silenceMs = silenceLimitOf(this.options.heartbeatMs);
    this.#clock.clearTimeout(this.#silenceTimer);
    this.#silenceTimer = this.#clock.setTimeout(() => {
      const message =
        `The worker of "${this.#agent}" took the embeddings and then sent nothing for ${silenceMs} ms ` +
        '(3 × HEARTBEAT_MS); it is presumed lost.';
      this.#end(new AgentbusError('worker_lost', message));
    }, silenceMs);
  }

  /**
   * Ends the attempt with the answer or an error. `tellWorker`: a worker may still hold the
   * request (we gave up on it), so it is told to stop — before the caller can publish a retry.
   */
  #end(outcome: EmbedVectorsReply | AgentbusError, tellWorker = true): void {
    if (this.#over) return;
    this.#over = true;
    this.#clock.clearTimeout(this.#silenceTimer);
    this.#clock.clearTimeout(this.#deadlineTimer);
    for (const unwatch of this.#unwatch.splice(0)) unwatch();
    this.#sub?.unsubscribe();
    if (!(outcome instanceof AgentbusError)) return this.resolve(outcome);
    if (tellWorker && this.#sub) {
      announceCancel(this.bus, this.options.cancelSubject, this.request.request_id, outcome.message);
    }
    this.reject(outcome);
  }
}

const clientLeft = () =>
  new AgentbusError(
    'request_cancelled',
    'The client left before the embeddings were ready; the worker was told to stop.',
  );

/**
 * The request over NATS's max_payload (nats.js refuses it before sending): a batch too big for the
 * bus, the client's 413 as for chat (bus-call.ts), not an outage a retry could fix.
 */
function tooLargeForBus(err: unknown, maxPayload: number | undefined, inputs: number): AgentbusError | undefined {
  if (err instanceof AgentbusError || !isOverMaxPayload(err)) return undefined;
  return new AgentbusError(
    'request_too_large',
    `${inputs === 1 ? 'The input is' : `The ${inputs} inputs are`} larger than the message bus carries ` +
      `(NATS max_payload${maxPayload === undefined ? '' : `, ${maxPayload} bytes`}); ` +
      `${inputs === 1 ? 'shorten it' : 'send fewer inputs per request'}.`,
    { param: 'input', cause: err },
  );
}

function busRefused(err: unknown): AgentbusError {
  // What the bus's owner tells the client instead (a stopping gateway's 503), as it is.
  if (err instanceof AgentbusError) return err;
  const message = (err as Error)?.message ?? String(err);
  return new AgentbusError(
    'bus_unavailable',
    `The message bus (NATS) cannot take the embeddings request: ${message}. It reconnects on its own; retry shortly.`,
    { cause: err },
  );
}
