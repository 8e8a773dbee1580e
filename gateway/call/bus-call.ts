import {
  AuthorizationError,
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  headers as natsHeaders,
  InvalidArgumentError,
  InvalidSubjectError,
  PermissionViolationError,
  ProtocolError,
} from '@nats-io/transport-node';
import {
  AgentbusError,
  decodeReplyFrame,
  encodeJson,
  inboxScopes,
  RECEIPT_GRACE_MS,
  type DeliveryReceipt,
  type ChatRequest,
  type ErrorFrame,
  type ReplyFrame,
} from '../../bus-schemas/index.js';
import {
  isNoRespondersReply,
  isOverMaxPayload,
  type Bus,
  type BusMessage,
  type BusSubscription,
} from '../../common/bus.js';
import { systemClock, type Clock, type TimerHandle } from '../../common/clock.js';
import { RECONNECT_WAIT_MS, waitConnected } from '../../common/wait-connected.js';
import { onAbort, reasonOf, type CallScope, type FrameSource } from './call.js';
import { announceCancel } from './announce-cancel.js';
import { FrameChannel } from './frame-channel.js';
import { sendReceipt } from './send-receipt.js';
import type { AgentLiveness } from './worker-beats.js';

export interface BusCallOptions {
  /** Subject for the envelope (`<prefix>.<intent>.chat`). */
  subject: string;
  /** Subject where a cancel is announced when the requester leaves (`<prefix>.<agent>.cancel`). */
  cancelSubject: string;
  /** `<prefix>.memory.commit`: where a delivered answer goes when its worker cannot commit it. */
  commitSubject?: string | undefined;
  /** Silence longer than this (no frame at all) means the worker died. */
  idleTimeoutMs: number;
  /**
   * The workers' beats: before any frame, silence while every worker of the agent still beats is
   * waited out (the request is queued at a busy worker, not lost). Absent, silence alone decides.
   */
  beats?: AgentLiveness | undefined;
  /** Extra time past the envelope's timeout for the worker's own `deadline_exceeded` to arrive. */
  deadlineGraceMs: number;
  /** What set the envelope's timeout, named when it runs out; default REQUEST_TIMEOUT_MS. */
  deadlineSetting?: string | undefined;
  /** After a cancel, how long the worker has to confirm with its terminal frame. */
  cancelGraceMs: number;
  /** Where a copy of the envelope goes for the audit stream (AUDIT=on); absent, none is sent. */
  auditSubject?: string | undefined;
  /**
   * While the bus reconnects (its server died: another node of a cluster, or the same one back
   * soon), how long a request not yet published waits for it before failing bus_unavailable.
   * Default {@link RECONNECT_WAIT_MS}; never past the request's own timeout.
   */
  reconnectWaitMs?: number;
  /**
   * The request's logger (bound to its request id), told when a delivered answer's turn could not
   * be committed: its client has what memory lacks.
   */
  log?: { warn(msg: string): void } | undefined;
  clock?: Clock;
}

/** The silence limit of a call whose worker heartbeats every `heartbeatMs` (HEARTBEAT_MS): 3 beats, at least 1 s. */
export function silenceLimitOf(heartbeatMs: number): number {
  return Math.max(3 * heartbeatMs, 1000);
}

/** The bus cannot take a request now (closed, draining, cut off): retrying later can help. */
class BusDownError extends Error {}

// What nats.js throws from subscribe/publish when the connection, the server or the payload
// is the problem. Anything else (a bug, a stack overflow while encoding) is ours: retrying it
// cannot help, so it must not pass for a retryable bus outage.
const NATS_ERRORS = [
  BusDownError,
  ClosedConnectionError,
  DrainingConnectionError,
  ConnectionError,
  ProtocolError,
  AuthorizationError,
  PermissionViolationError,
  InvalidArgumentError,
  InvalidSubjectError,
];

function busError(err: unknown): AgentbusError {
  if (err instanceof AgentbusError) return err;
  // internal_error is logged with its cause by whoever answers it (error handler, live socket).
  if (!NATS_ERRORS.some((type) => err instanceof type)) return AgentbusError.from(err, 'Publishing the request failed');
  const message = (err as Error).message;
  if (isOverMaxPayload(err)) {
    return new AgentbusError('request_too_large', `The request is larger than the message bus accepts (${message}).`);
  }
  return new AgentbusError(
    'bus_unavailable',
    `The message bus (NATS) cannot take the request: ${message}. It reconnects on its own; retry shortly.`,
    { cause: err },
  );
}

/**
 * One request over the bus: publishes the envelope with a fresh inbox as reply subject when the
 * source is invoked, and yields the reply frames. It never presents a truncated answer as
 * complete: a gap in `seq`, a malformed frame, silence past `idleTimeoutMs`, the deadline or
 * the bus dropping each end the frames with an error instead. Never throws synchronously: a bus
 * that cannot take the request fails the first iteration.
 */
export function busCall(bus: Bus, envelope: ChatRequest, options: BusCallOptions): FrameSource {
  return (scope) => new BusCallState(bus, envelope, options, scope).start();
}

class BusCallState {
  readonly #channel = new FrameChannel();
  readonly #clock: Clock;
  #expectedSeq = 0;
  #acked = false;
  #finished = false;
  /** The agent's workers as they were at publishing ({@link AgentLiveness.generation}). */
  #generation = 0;
  /** When the request's own timeout ends (publishing + `timeout_ms`). */
  #deadlineAt = 0;
  #sub: BusSubscription | undefined;
  #idleTimer: TimerHandle | undefined;
  #deadlineTimer: TimerHandle | undefined;
  #cancelTimer: TimerHandle | undefined;
  readonly #unwatch: Array<() => void> = [];

  constructor(
    private readonly bus: Bus,
    private readonly envelope: ChatRequest,
    private readonly options: BusCallOptions,
    private readonly scope: CallScope,
  ) {
    this.#clock = options.clock ?? systemClock;
  }

  start(): FrameChannel {
    const waitMs = Math.min(this.options.reconnectWaitMs ?? RECONNECT_WAIT_MS, this.envelope.timeout_ms);
    if (this.bus.connected || this.bus.closed || waitMs <= 0) this.#begin();
    else {
      const until = [this.scope.closed, this.scope.cancelled];
      // It never rejects; #begin catches its own errors. The handler only satisfies the rule.
      waitConnected(this.bus, waitMs, { clock: this.#clock, until }).then(
        () => this.#begin(),
        (err: unknown) => this.#fail(AgentbusError.from(err), false),
      );
    }
    return this.#channel;
  }

  #begin(): void {
    // Closed before it started: publish nothing, end without a terminal frame.
    if (this.scope.closed.aborted) {
      this.#finished = true;
      this.#channel.end();
      return;
    }
    if (this.scope.cancelled.aborted) {
      this.#finished = true;
      this.#channel.fail(
        new AgentbusError('request_cancelled', 'Cancelled before the request reached a worker; nothing was stored.'),
      );
      return;
    }
    try {
      this.#publish();
    } catch (err) {
      this.#fail(busError(err), false);
      return;
    }
    this.#generation = this.options.beats?.generation(this.envelope.intent) ?? 0;
    this.#deadlineAt = this.#clock.now() + this.envelope.timeout_ms;
    this.#armIdleTimer();
    // Frames the worker sends while we are cut off are lost, so the answer could never be
    // complete: say so now rather than after the silence limit.
    this.#unwatch.push(
      this.bus.onChange((state) => {
        if (state.connected) return;
        const why = `${state.problem ?? 'disconnected'} (the connection dropped while the answer was on its way)`;
        this.#fail(busError(new BusDownError(why)));
      }),
    );
    this.#deadlineTimer = this.#clock.setTimeout(
      () =>
        this.#fail(
          new AgentbusError(
            'deadline_exceeded',
            `No answer within the request timeout of ${this.envelope.timeout_ms} ms ` +
              `(${this.options.deadlineSetting ?? 'REQUEST_TIMEOUT_MS'}).`,
          ),
        ),
      this.envelope.timeout_ms + this.options.deadlineGraceMs,
    );
    this.#unwatch.push(onAbort(this.scope.closed, () => this.#close()));
    this.#unwatch.push(onAbort(this.scope.cancelled, () => this.#cancel()));
  }

  #publish(): void {
    if (this.bus.closed) throw new BusDownError('the connection is closed');
    // nats.js would buffer the publish until it reconnects: fail now, the client may retry.
    if (!this.bus.connected) throw new BusDownError(this.bus.problem ?? 'disconnected');
    // Scoped by agent: only workers of this agent may publish frames there (nats.conf).
    this.#sub = this.bus.subscribeInbox(inboxScopes.chat(this.envelope.intent), (err, msg) =>
      this.#onMessage(err, msg),
    );
    const inbox = this.#sub.getSubject();
    const headers = natsHeaders();
    headers.set('Agentbus-Request-Id', this.envelope.request_id);
    if (this.envelope.traceparent) headers.set('traceparent', this.envelope.traceparent);
    const data = encodeJson(this.envelope);
    this.bus.publish(this.options.subject, data, { reply: inbox, headers });
    // Without a reply subject: the audit stream (no_ack) records it, and nobody answers it.
    if (this.options.auditSubject) this.bus.publish(this.options.auditSubject, data, { headers });
  }

  #stop(): void {
    this.#finished = true;
    this.#clock.clearTimeout(this.#idleTimer);
    this.#clock.clearTimeout(this.#deadlineTimer);
    this.#clock.clearTimeout(this.#cancelTimer);
    for (const unwatch of this.#unwatch) unwatch();
    this.#sub?.unsubscribe();
  }

  /**
   * Ends the call with `error`. A failure seen here (silence, the deadline, the bus dropping, a
   * broken frame) is also announced as a cancel, so the worker stops a model call nobody will
   * receive; one that means the worker never got the request, or already ended it, is not.
   */
  #fail(error: AgentbusError, tellWorker = true): void {
    if (this.#finished) return;
    this.#stop();
    this.#channel.fail(error);
    if (tellWorker) this.#announceCancel(error.message);
  }

  #announceCancel(why?: string): void {
    const reason = why ?? reasonOf(this.scope.closed.aborted ? this.scope.closed : this.scope.cancelled);
    announceCancel(this.bus, this.options.cancelSubject, this.envelope.request_id, reason);
  }

  /** The requester is gone: nothing more is relayed, and the worker is told to abort. */
  #close(): void {
    if (this.#finished) return;
    this.#stop();
    this.#channel.end();
    this.#announceCancel();
  }

  /** Tell the worker; its terminal frame ends the call, or one made up here after the grace. */
  #cancel(): void {
    if (this.#finished || this.#cancelTimer) return;
    this.#announceCancel();
    this.#cancelTimer = this.#clock.setTimeout(
      () =>
        this.#fail(
          new AgentbusError(
            'request_cancelled',
            'Cancelled by the client; the worker did not confirm in time, and nothing more will be relayed.',
          ),
        ),
      this.options.cancelGraceMs,
    );
  }

  #armIdleTimer(): void {
    this.#clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = this.#clock.setTimeout(() => {
      // Not read yet while every worker of the agent beats as at publishing: it waits at one of
      // them behind others (heartbeats start when a worker reads it). Never into the deadline: a
      // worker_lost before it may still be retried, a deadline_exceeded may not.
      const { beats } = this.options;
      const waitable = this.#expectedSeq === 0 && this.#clock.now() + this.options.idleTimeoutMs < this.#deadlineAt;
      if (waitable && beats?.stillServing(this.envelope.intent, this.#generation)) {
        this.#armIdleTimer();
        return;
      }
      this.#fail(
        new AgentbusError(
          'worker_lost',
          `No frame from the worker for ${this.options.idleTimeoutMs} ms; ` +
            'it is presumed dead and the answer incomplete.',
        ),
      );
    }, this.options.idleTimeoutMs);
  }

  #onMessage(err: Error | null, msg: BusMessage): void {
    if (this.#finished) return;
    if (err) {
      // An AgentbusError is what the bus's owner tells the client instead (a stopping gateway's 503).
      const error =
        err instanceof AgentbusError
          ? err
          : new AgentbusError('bus_unavailable', `Reply subscription failed: ${err.message}`, { cause: err });
      this.#fail(error);
      return;
    }
    if (isNoRespondersReply(msg)) {
      const agent = this.envelope.intent;
      this.#fail(
        new AgentbusError(
          'no_worker',
          `No worker is serving agent "${agent}". Start one with "npm run worker -- --agents ${agent}" ` +
            '(or "npm start" for the whole stack).',
        ),
        false,
      );
      return;
    }
    if (msg.data.length === 0) {
      this.#fail(new AgentbusError('stream_protocol_error', 'The worker ended the reply without a terminal frame.'));
      return;
    }
    let frame: ReplyFrame;
    try {
      frame = decodeReplyFrame(msg.data);
    } catch (error) {
      this.#fail(AgentbusError.from(error));
      return;
    }
    if (frame.seq !== this.#expectedSeq) {
      this.#fail(
        new AgentbusError(
          'stream_protocol_error',
          `Reply frames arrived out of order: expected seq ${this.#expectedSeq}, got ${frame.seq}; ` +
            'the answer would be incomplete.',
        ),
      );
      return;
    }
    this.#expectedSeq++;
    this.#armIdleTimer();
    // An overloaded worker heartbeats before its ack: proof of life only. Passed on, it would
    // start a response before the ack names its conversation.
    if (frame.type === 'ack') this.#acked = true;
    else if (frame.type === 'heartbeat' && !this.#acked) return;
    this.#channel.push(frame.type === 'error' ? this.#withDeadlineSetting(frame) : frame);
    if (frame.type === 'done' || frame.type === 'error') {
      this.#stop();
      this.#channel.end();
      // A done sent as a request (protocol v2) waits for its delivery receipt, which its worker waits
      // for until its deadline (no earlier than ours, counted from our publish) plus the grace.
      if (frame.type === 'done' && msg.reply) {
        this.scope.receiptDue?.(Math.max(this.#clock.now(), this.#deadlineAt) + RECEIPT_GRACE_MS);
        this.#receipt(msg.reply);
      }
    }
  }

  /** A worker's deadline error, which cannot know what set the timeout, names it. */
  #withDeadlineSetting(frame: ErrorFrame): ErrorFrame {
    const { deadlineSetting } = this.options;
    if (frame.error.code !== 'deadline_exceeded' || deadlineSetting === undefined) return frame;
    return { ...frame, error: { ...frame.error, message: `${frame.error.message} (Set by ${deadlineSetting}.)` } };
  }

  /**
   * Answers the worker's `done` once the client has the whole answer (`delivered`), or with
   * `delivered: false` if the requester goes away first: only a delivered turn is committed.
   */
  #receipt(replyTo: string): void {
    const watching: Array<() => void> = [];
    let sent = false;
    const send = (delivered: boolean, reason?: string) => {
      if (sent) return;
      sent = true;
      for (const unwatch of watching) unwatch();
      const receipt: DeliveryReceipt = {
        v: 2,
        request_id: this.envelope.request_id,
        delivered,
        ...(reason === undefined ? {} : { reason: reason.slice(0, 200) }),
      };
      // Without a receipt the worker discards the turn after its wait: the safe side.
      const target = {
        replyTo,
        data: encodeJson(receipt),
        inboxScope: inboxScopes.chat(this.envelope.intent),
        commitSubject: delivered ? this.options.commitSubject : undefined,
      };
      sendReceipt(this.bus, target, this.#clock).then(
        (settled) => {
          if (!settled && delivered) this.#receiptLost();
        },
        () => undefined, // never rejects
      );
    };
    watching.push(onAbort(this.scope.delivered, () => send(true)));
    watching.push(onAbort(this.scope.closed, () => send(false, reasonOf(this.scope.closed))));
  }

  // Said in the log: the client has an answer that memory will not have (a gateway stopping, or no
  // worker at all for the commit's ~44 s).
  #receiptLost(): void {
    this.options.log?.warn(
      'the client received the whole answer, but no worker took its receipt or committed it: ' +
        "the turn stays pending, out of the history, until a worker's sweep deletes it (minutes after its wait)",
    );
  }
}
