import { headers as natsHeaders } from '@nats-io/transport-node';
import {
  AgentbusError,
  encodeJson,
  errorFromWire,
  inboxScopes,
  type Subjects,
  type WireError,
} from '../../bus-schemas/index.js';
import { isNoRespondersReply, type Bus, type BusMessage } from '../../common/bus.js';
import { announceCancel } from '../call/announce-cancel.js';
import { FrameQueue } from '../speech/frame-queue.js';
import { workerTookIt } from './open-with-retry.js';

/** A frame of a voice call's answer: numbered from 0; an `error` frame ends it. */
type NumberedFrame = { seq: number; type: string };

/** What the call needs of its request: the speech and transcription envelopes both carry it. */
export interface VoiceRequest {
  intent: string;
  request_id: string;
  traceparent?: string | undefined;
  /** The request's own limit; the call gives up a second after it. */
  timeout_ms: number;
}

/** How a call names its frames and what it waits for, in its errors. */
export interface VoiceCallNames<F extends NumberedFrame> {
  decode(data: Uint8Array): F;
  /** The frames' name in a protocol error ("speech frame 3 arrived"). */
  frames: string;
  /** What did not come in time ("complete speech", "transcript"). */
  awaited: string;
  /** What the client did not wait for ("the speech ended", "the transcript was ready"). */
  leftBefore: string;
}

/** One speech or transcription call on the bus, from the gateway's side. */
export interface VoiceCall<F extends NumberedFrame> {
  /**
   * The next frame in `seq` order. Throws `no_worker`, `stream_protocol_error` on a gap, the
   * worker's error, `deadline_exceeded`, or `request_cancelled` once the client left.
   */
  next(): Promise<F>;
  /** Publishes the request on `subject` (and, with `auditSubject`, its copy for the audit stream); not once ended. */
  send(subject: string, auditSubject?: string): void;
  /** Tells the worker to stop (`reason` for its log), unless the call ended already. */
  cancel(reason?: string): void;
  /**
   * True once a worker took the request: it sent a frame other than a refusal (an `error` frame
   * first), or one that could not be read. A call it took is never asked of another worker.
   */
  readonly taken: boolean;
  /** Ends the call: its inbox, deadline and abort listener are let go. Safe to call again. */
  end(): void;
  readonly ended: boolean;
}

/**
 * Opens a voice call for `request`: an inbox in the agent's chat scope (so a worker credential scoped to the
 * agent may answer, nats.conf), a deadline a second past the request's limit, and a cancel
 * announced on the agent's cancel subject when the client leaves or the deadline passes, so the
 * worker stops its engine.
 * The speech and transcription calls differ only in what they send and which frames they expect.
 */
export function openVoiceCall<F extends NumberedFrame>(
  bus: Bus,
  subjects: Subjects,
  request: VoiceRequest,
  signal: AbortSignal,
  names: VoiceCallNames<F>,
): VoiceCall<F> {
  const agent = request.intent;
  const queue = new FrameQueue<BusMessage>();
  const sub = bus.subscribeInbox(inboxScopes.chat(agent), (err, msg) => (err ? queue.fail(err) : queue.push(msg)));
  const tellWorker = (reason: string) => announceCancel(bus, subjects.cancel(agent), request.request_id, reason);
  const deadlineMs = request.timeout_ms + 1_000;
  // Past it nobody reads the answer: the worker is told to stop, as a chat call does, so an engine
  // whose own deadline failed to fire does not run on for nobody.
  const deadline = setTimeout(() => {
    tellWorker('deadline passed');
    queue.fail(new AgentbusError('deadline_exceeded', `No ${names.awaited} within ${deadlineMs} ms.`));
  }, deadlineMs);
  const cancel = (reason = 'client left') => {
    if (call.ended) return;
    tellWorker(reason);
    queue.fail(new AgentbusError('request_cancelled', `The client left before ${names.leftBefore}.`));
  };
  // The client's leaving ends the call even when nobody reads it any more (a later piece of a
  // spoken answer, started but not yet read): its inbox and deadline must not outlive it.
  const onAbort = () => {
    cancel();
    end();
  };
  const end = () => {
    if (call.ended) return;
    call.ended = true;
    clearTimeout(deadline);
    signal.removeEventListener('abort', onAbort);
    sub.unsubscribe();
  };
  let expected = 0;
  // `ended` and `taken` are fields, not getters: see `closedByClient` in call/call.ts.
  const call: { -readonly [K in keyof VoiceCall<F>]: VoiceCall<F>[K] } = {
    async next() {
      const msg = await queue.next();
      if (isNoRespondersReply(msg))
        throw new AgentbusError(
          'no_worker',
          `No worker serves the voice agent "${agent}". Start one with "npm run worker" (or "npm start").`,
        );
      // Until it is read as a refusal, a frame says a worker has the request.
      const wasTaken = call.taken;
      call.taken = true;
      const frame = names.decode(msg.data);
      if (frame.seq !== expected++)
        throw new AgentbusError(
          'stream_protocol_error',
          `${names.frames} frame ${frame.seq} arrived, ${expected - 1} expected`,
        );
      if (frame.type === 'error') {
        call.taken = wasTaken;
        throw errorFromWire((frame as unknown as { error: WireError }).error);
      }
      return frame;
    },
    send(subject, auditSubject) {
      if (call.ended) return;
      const h = natsHeaders();
      h.set('Agentbus-Request-Id', request.request_id);
      if (request.traceparent) h.set('traceparent', request.traceparent);
      const data = encodeJson(request);
      bus.publish(subject, data, { reply: sub.getSubject(), headers: h });
      // A copy for the audit stream (AUDIT=on), which nobody answers: as bus-call.ts does for chat.
      if (auditSubject) bus.publish(auditSubject, data, { headers: h });
    },
    cancel,
    end,
    ended: false,
    taken: false,
  };
  signal.addEventListener('abort', onAbort, { once: true });
  // A client gone already never fires 'abort': the call ends before it is sent.
  if (signal.aborted) onAbort();
  return call;
}

/** Where a call's request goes (and its audit copy), and the frame the worker's answer must begin with. */
export interface VoiceOpening<F extends NumberedFrame, T extends F['type']> {
  subject: string;
  auditSubject?: string | undefined;
  first: T;
  /** Throws when the first frame asks for something the gateway will not do. */
  check?(first: Extract<F, { type: T }>): void;
}

/**
 * One attempt at a voice call's opening: the call opened, its request sent, and the worker's first
 * frame read, which must be `opening.first` (`start` of speech, `ready` of a transcription), else
 * `stream_protocol_error`. On any failure the call is ended: its inbox and deadline are let go.
 */
export async function openUntilFirstFrame<F extends NumberedFrame, T extends F['type']>(
  bus: Bus,
  subjects: Subjects,
  request: VoiceRequest,
  signal: AbortSignal,
  names: VoiceCallNames<F>,
  opening: VoiceOpening<F, T>,
): Promise<{ call: VoiceCall<F>; first: Extract<F, { type: T }> }> {
  const call = openVoiceCall(bus, subjects, request, signal, names);
  try {
    call.send(opening.subject, opening.auditSubject);
    const first = await call.next();
    if (first.type !== opening.first)
      throw new AgentbusError('stream_protocol_error', `${names.frames} began without "${opening.first}"`);
    const opened = first as Extract<F, { type: T }>;
    opening.check?.(opened);
    return { call, first: opened };
  } catch (err) {
    throw abandon(call, err);
  }
}

/**
 * Ends a call whose opening failed. A worker that took it is told to stop, and the error is
 * marked as not to be asked again (open-with-retry.ts): that would run the work twice.
 */
function abandon(call: VoiceCall<NumberedFrame>, err: unknown): unknown {
  if (!call.taken) {
    call.end();
    return err;
  }
  call.cancel('the gateway gave up on its opening');
  call.end();
  return workerTookIt(AgentbusError.from(err));
}
