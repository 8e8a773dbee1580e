import { createInbox, headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { AgentbusError, decodeReplyFrame, encodeJson, type ChatRequest, type ReplyFrame } from '../../bus-schemas/index.js';
import { FrameChannel } from './frame-channel.js';

export interface AgentCallOptions {
  /** Silence longer than this (no frame at all) means the worker died. */
  idleTimeoutMs: number;
  /** Extra time past the envelope's timeout for the worker's own `deadline_exceeded` to arrive. */
  deadlineGraceMs: number;
}

/** The reply frames of one request, in order and checked; iterate once. */
export interface AgentCall extends AsyncIterable<ReplyFrame> {
  /** Stops listening (client went away); frames still arriving are dropped. */
  close(): void;
}

function isNoResponders(msg: Msg): boolean {
  return msg.data.length === 0 && msg.headers?.code === 503;
}

function publishError(err: unknown): AgentbusError {
  const message = (err as Error).message ?? String(err);
  if (/max.?payload/i.test(message)) return new AgentbusError('request_too_large', `The request is larger than the message bus accepts (${message}).`);
  return new AgentbusError('bus_unavailable', `Cannot publish to NATS: ${message}`, { cause: err });
}

/**
 * Publishes the envelope on `subject` with a fresh inbox as reply subject, and yields the reply
 * frames. It never presents a truncated answer as complete: a gap in `seq`, a malformed frame,
 * silence past `idleTimeoutMs` or the deadline each end the iteration with an error instead.
 */
export function callAgent(nc: NatsConnection, subject: string, envelope: ChatRequest, options: AgentCallOptions): AgentCall {
  const channel = new FrameChannel();
  const inbox = createInbox();
  let expectedSeq = 0;
  let finished = false;
  let idleTimer: NodeJS.Timeout | undefined;

  const fail = (error: AgentbusError) => {
    if (finished) return;
    stop();
    channel.fail(error);
  };
  const armIdleTimer = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(
      () => fail(new AgentbusError('worker_lost', `No frame from the worker for ${options.idleTimeoutMs} ms; it is presumed dead and the answer incomplete.`)),
      options.idleTimeoutMs,
    );
  };
  const deadlineTimer = setTimeout(
    () => fail(new AgentbusError('deadline_exceeded', `No answer within the request timeout of ${envelope.timeout_ms} ms (REQUEST_TIMEOUT_MS).`)),
    envelope.timeout_ms + options.deadlineGraceMs,
  );
  const sub = nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (finished) return;
      if (err) return fail(new AgentbusError('bus_unavailable', `Reply subscription failed: ${err.message}`, { cause: err }));
      if (isNoResponders(msg)) return fail(new AgentbusError('no_worker', `No worker is serving agent "${envelope.intent}". Start one with "npm run worker -- --agents ${envelope.intent}" (or "npm start" for the whole stack).`));
      if (msg.data.length === 0) return fail(new AgentbusError('stream_protocol_error', 'The worker ended the reply without a terminal frame.'));
      let frame: ReplyFrame;
      try {
        frame = decodeReplyFrame(msg.data);
      } catch (error) {
        return fail(error as AgentbusError);
      }
      if (frame.seq !== expectedSeq) return fail(new AgentbusError('stream_protocol_error', `Reply frames arrived out of order: expected seq ${expectedSeq}, got ${frame.seq}; the answer would be incomplete.`));
      expectedSeq++;
      armIdleTimer();
      channel.push(frame);
      if (frame.type === 'done' || frame.type === 'error') {
        stop();
        channel.end();
      }
    },
  });
  function stop() {
    finished = true;
    clearTimeout(idleTimer);
    clearTimeout(deadlineTimer);
    sub.unsubscribe();
  }

  const h = natsHeaders();
  h.set('Agentbus-Request-Id', envelope.request_id);
  if (envelope.traceparent) h.set('traceparent', envelope.traceparent);
  try {
    if (nc.isClosed() || nc.isDraining()) throw new Error('connection closed');
    nc.publish(subject, encodeJson(envelope), { reply: inbox, headers: h });
    armIdleTimer();
  } catch (err) {
    fail(publishError(err));
  }

  return {
    [Symbol.asyncIterator]: () => channel[Symbol.asyncIterator](),
    close: () => {
      if (finished) return;
      stop();
      channel.end();
    },
  };
}
