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
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import {
  AgentbusError,
  decodeReplyFrame,
  encodeJson,
  PROTOCOL_VERSION,
  type CancelRequest,
  type ChatRequest,
  type ReplyFrame,
} from '../../bus-schemas/index.js';
import { busStateOf, inboxFor } from '../../common/nats.js';
import { FrameChannel } from './frame-channel.js';

export interface AgentCallOptions {
  /** Subject for the envelope (`<prefix>.<intent>.chat`). */
  subject: string;
  /** Subject where a cancel is announced when the requester leaves (`<prefix>.cancel`). */
  cancelSubject: string;
  /** Silence longer than this (no frame at all) means the worker died. */
  idleTimeoutMs: number;
  /** Extra time past the envelope's timeout for the worker's own `deadline_exceeded` to arrive. */
  deadlineGraceMs: number;
  /** Where a copy of the envelope goes for the audit stream (AUDIT=on); absent, none is sent. */
  auditSubject?: string | undefined;
}

/** The reply frames of one request, in order and checked; iterate once. */
export interface AgentCall extends AsyncIterable<ReplyFrame> {
  /**
   * The requester is gone: stop listening and, if the answer is not complete, tell the worker
   * to abort it (nothing is stored). The iteration then ends without a terminal frame.
   */
  close(reason: string): void;
  /**
   * The requester still listens but wants the answer stopped: tell the worker to abort it and
   * keep relaying until its own terminal frame, which says what happened — `request_cancelled`
   * (nothing stored), or `done` when the answer was already complete and stored. Past
   * `graceMs` without one, the call ends with `request_cancelled` made up here.
   */
  cancel(reason: string, graceMs: number): void;
  /** True once `close()` ended the call before its terminal frame. */
  readonly closedByClient: boolean;
}

function isNoResponders(msg: Msg): boolean {
  return msg.data.length === 0 && msg.headers?.code === 503;
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
  if (!NATS_ERRORS.some((type) => err instanceof type)) {
    // internal_error is logged with its cause by whoever answers it (error handler, live socket).
    return new AgentbusError(
      'internal_error',
      `Publishing the request failed: ${(err as Error)?.message ?? String(err)}`,
      { cause: err },
    );
  }
  const message = (err as Error).message ?? String(err);
  if (/max.?payload/i.test(message))
    return new AgentbusError('request_too_large', `The request is larger than the message bus accepts (${message}).`);
  return new AgentbusError(
    'bus_unavailable',
    `The message bus (NATS) cannot take the request: ${message}. It reconnects on its own; retry shortly.`,
    { cause: err },
  );
}

/**
 * `call` with its frames read through `frames` (which iterates `call`): close, cancel and
 * `closedByClient` still act on `call`, so wrappers that watch or amend frames stay one call.
 */
export function withFrames(call: AgentCall, frames: (call: AgentCall) => AsyncIterator<ReplyFrame>): AgentCall {
  return {
    close: (reason) => call.close(reason),
    cancel: (reason, graceMs) => call.cancel(reason, graceMs),
    get closedByClient() {
      return call.closedByClient;
    },
    [Symbol.asyncIterator]: () => frames(call),
  };
}

/**
 * Publishes the envelope with a fresh inbox as reply subject and yields the reply frames. It
 * never presents a truncated answer as complete: a gap in `seq`, a malformed frame, silence
 * past `idleTimeoutMs` or the timeout each end the iteration with an error instead. Never
 * throws synchronously: a bus that cannot take the request fails the first iteration.
 */
export function callAgent(nc: NatsConnection, envelope: ChatRequest, options: AgentCallOptions): AgentCall {
  const channel = new FrameChannel();
  let expectedSeq = 0;
  let finished = false;
  let closedByClient = false;
  let sub: Subscription | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  let cancelTimer: NodeJS.Timeout | undefined;
  let stopWatchingBus: (() => void) | undefined;
  const bus = busStateOf(nc);

  function stop() {
    finished = true;
    clearTimeout(idleTimer);
    clearTimeout(deadlineTimer);
    clearTimeout(cancelTimer);
    stopWatchingBus?.();
    sub?.unsubscribe();
  }
  function announceCancel(reason: string) {
    const cancel: CancelRequest = { v: PROTOCOL_VERSION, request_id: envelope.request_id, reason };
    try {
      nc.publish(options.cancelSubject, encodeJson(cancel));
    } catch {
      // The bus is gone too; the worker's own deadline ends the model call.
    }
  }
  function fail(error: AgentbusError) {
    if (finished) return;
    stop();
    channel.fail(error);
  }
  function armIdleTimer() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(
      () =>
        fail(
          new AgentbusError(
            'worker_lost',
            `No frame from the worker for ${options.idleTimeoutMs} ms; it is presumed dead and the answer incomplete.`,
          ),
        ),
      options.idleTimeoutMs,
    );
  }
  function onMessage(err: Error | null, msg: Msg) {
    if (finished) return;
    if (err)
      return fail(new AgentbusError('bus_unavailable', `Reply subscription failed: ${err.message}`, { cause: err }));
    if (isNoResponders(msg))
      return fail(
        new AgentbusError(
          'no_worker',
          `No worker is serving agent "${envelope.intent}". Start one with "npm run worker -- --agents ${envelope.intent}" (or "npm start" for the whole stack).`,
        ),
      );
    if (msg.data.length === 0)
      return fail(new AgentbusError('stream_protocol_error', 'The worker ended the reply without a terminal frame.'));
    let frame: ReplyFrame;
    try {
      frame = decodeReplyFrame(msg.data);
    } catch (error) {
      return fail(error as AgentbusError);
    }
    if (frame.seq !== expectedSeq)
      return fail(
        new AgentbusError(
          'stream_protocol_error',
          `Reply frames arrived out of order: expected seq ${expectedSeq}, got ${frame.seq}; the answer would be incomplete.`,
        ),
      );
    expectedSeq++;
    armIdleTimer();
    channel.push(frame);
    if (frame.type === 'done' || frame.type === 'error') {
      stop();
      channel.end();
    }
  }

  try {
    if (nc.isClosed() || nc.isDraining()) throw new BusDownError('the connection is closed');
    // nats.js would buffer the publish until it reconnects: fail now, the client may retry.
    if (!bus.connected) throw new BusDownError(bus.problem ?? 'disconnected');
    const inbox = inboxFor(nc);
    sub = nc.subscribe(inbox, { callback: onMessage });
    const h = natsHeaders();
    h.set('Agentbus-Request-Id', envelope.request_id);
    if (envelope.traceparent) h.set('traceparent', envelope.traceparent);
    const data = encodeJson(envelope);
    nc.publish(options.subject, data, { reply: inbox, headers: h });
    // Without a reply subject: the audit stream (no_ack) records it, and nobody answers it.
    if (options.auditSubject) nc.publish(options.auditSubject, data, { headers: h });
    // Timers start only once the request is out, so a failure above leaves none behind.
    armIdleTimer();
    // Frames the worker sends while we are cut off are lost, so the answer could never be
    // complete: say so now rather than after the silence limit.
    stopWatchingBus = bus.onChange((state) => {
      if (!state.connected)
        fail(
          busError(
            new BusDownError(
              `${state.problem ?? 'disconnected'} (the connection dropped while the answer was on its way)`,
            ),
          ),
        );
    });
    deadlineTimer = setTimeout(
      () =>
        fail(
          new AgentbusError(
            'deadline_exceeded',
            `No answer within the request timeout of ${envelope.timeout_ms} ms (REQUEST_TIMEOUT_MS).`,
          ),
        ),
      envelope.timeout_ms + options.deadlineGraceMs,
    );
  } catch (err) {
    fail(busError(err));
  }

  return {
    [Symbol.asyncIterator]: () => channel[Symbol.asyncIterator](),
    get closedByClient() {
      return closedByClient;
    },
    close(reason) {
      if (finished) return;
      closedByClient = true;
      stop();
      channel.end();
      announceCancel(reason);
    },
    cancel(reason, graceMs) {
      if (finished || cancelTimer) return;
      announceCancel(reason);
      cancelTimer = setTimeout(
        () =>
          fail(
            new AgentbusError(
              'request_cancelled',
              'Cancelled by the client; the worker did not confirm in time, and nothing more will be relayed.',
            ),
          ),
        graceMs,
      );
    },
  };
}
