import { AgentbusError, encodeJson, type WireError } from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';
import type { Agent } from '../../common/catalog.js';
import { deadlineSignal } from '../../common/deadline-signal.js';
import type { Logger } from '../../common/logger.js';
import type { InFlight } from '../in-flight.js';

/** A frame as its sender writes it: `seq` and `request_id` are added on the way out. */
export type FrameBody<F> = F extends unknown ? Omit<F, 'seq' | 'request_id'> : never;

/** What differs between the audio requests answered with frames (speech, transcription). */
export interface FramedRequestKind<R, F> {
  /** `speech`, `transcription`: in log lines and error messages. */
  name: string;
  /** What the deadline leaves the client without: `No ${missing} within … ms`. */
  missing: string;
  decode(data: Uint8Array): R;
  /** Does the work, sending its frames; throws what becomes the `error` frame. */
  work(request: R, send: (frame: FrameBody<F>) => void, signal: AbortSignal): Promise<void>;
}

/**
 * Answers one audio request with gap-free frames on its reply subject: checks the envelope names
 * this agent, holds it in flight (a cancel aborts it), bounds it by its `timeout_ms`, and turns
 * any failure into one `error` frame — never thrown.
 */
export async function answerWithFrames<R extends { request_id: string; intent: string; timeout_ms: number }, F>(
  deps: { bus: Pick<Bus, 'publish'>; agent: Agent; log: Logger },
  msg: { data: Uint8Array; reply?: string | undefined },
  inFlight: InFlight,
  kind: FramedRequestKind<R, F>,
): Promise<{ ok: true } | { ok: false; code: string }> {
  const reply = msg.reply;
  if (!reply) {
    deps.log.warn(`${kind.name} request without a reply subject dropped`);
    return { ok: false, code: 'invalid_envelope' };
  }
  let requestId = 'unknown';
  let seq = 0;
  const send = (frame: FrameBody<F> | { type: 'error'; error: WireError }) =>
    deps.bus.publish(reply, encodeJson({ ...frame, seq: seq++, request_id: requestId }));
  let held: ReturnType<InFlight['enter']> | undefined;
  try {
    const request = kind.decode(msg.data);
    requestId = request.request_id;
    if (request.intent !== deps.agent.name)
      throw new AgentbusError(
        'invalid_envelope',
        `${kind.name} request for "${request.intent}" arrived on the subject of "${deps.agent.name}"`,
        { param: 'intent' },
      );
    held = inFlight.enter(requestId);
    const deadline = deadlineSignal(held.signal, request.timeout_ms);
    try {
      await kind.work(request, send, deadline.signal);
    } catch (err) {
      if (held.signal.aborted) throw held.signal.reason;
      if (deadline.signal.aborted)
        throw new AgentbusError('deadline_exceeded', `No ${kind.missing} within ${request.timeout_ms} ms.`, {
          cause: err,
        });
      throw err;
    } finally {
      deadline.dispose();
    }
    return { ok: true };
  } catch (err) {
    const error =
      err instanceof AgentbusError
        ? err
        : new AgentbusError('internal_error', `${kind.name} failed: ${(err as Error)?.message ?? String(err)}`, {
            cause: err,
          });
    deps.log[error.code === 'internal_error' ? 'error' : 'info']({ requestId, code: error.code }, error.message);
    try {
      send({ type: 'error', error: error.toWire() });
    } catch (publishError) {
      deps.log.warn({ err: publishError, requestId }, `could not publish the ${kind.name} error frame`);
    }
    return { ok: false, code: error.code };
  } finally {
    held?.leave();
  }
}
