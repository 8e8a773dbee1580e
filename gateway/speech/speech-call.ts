import { headers as natsHeaders } from '@nats-io/transport-node';
import {
  AgentbusError,
  PROTOCOL_VERSION,
  decodeSpeechFrame,
  encodeJson,
  errorFromWire,
  inboxScopes,
  type CancelRequest,
  type SpeechFrame,
  type SpeechRequest,
  type Subjects,
} from '../../bus-schemas/index.js';
import { isNoRespondersReply, type Bus, type BusMessage } from '../../common/bus.js';
import { FrameQueue } from './frame-queue.js';

type StartFrame = Extract<SpeechFrame, { type: 'start' }>;

/** A speech answer under way: what the audio is, then its bytes in order. */
export interface SpeechCall {
  start: StartFrame;
  /** The audio, chunk by chunk; throws the worker's error, or a cut-off answer's. */
  audio: AsyncGenerator<Buffer>;
}

/**
 * Sends a speech request to the agent's queue group and reads its frames in `seq` order (a gap
 * is `stream_protocol_error`: a truncated answer never looks complete). Aborting `signal` (the
 * client left) announces a cancel on `<prefix>.<agent>.cancel`, so the worker kills its engine.
 * With `auditSubject`, a copy of the request goes there for the audit stream.
 */
export async function callSpeech(
  bus: Bus,
  subjects: Subjects,
  request: SpeechRequest,
  signal: AbortSignal,
  options: { auditSubject?: string | undefined } = {},
): Promise<SpeechCall> {
  const agent = request.intent;
  const queue = new FrameQueue<BusMessage>();
  // The agent's chat inbox scope, so a worker credential scoped to the agent may answer (nats.conf).
  const sub = bus.subscribeInbox(inboxScopes.chat(agent), (err, msg) => (err ? queue.fail(err) : queue.push(msg)));
  const inbox = sub.getSubject();
  const deadlineMs = request.timeout_ms + 1_000;
  const deadline = setTimeout(
    () => queue.fail(new AgentbusError('deadline_exceeded', `No complete speech within ${deadlineMs} ms.`)),
    deadlineMs,
  );
  let finished = false;
  const onAbort = () => {
    if (finished) return;
    const cancel: CancelRequest = { v: PROTOCOL_VERSION, request_id: request.request_id, reason: 'client left' };
    bus.publish(subjects.cancel(agent), encodeJson(cancel));
    queue.fail(new AgentbusError('request_cancelled', 'The client left before the speech ended.'));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const end = () => {
    if (finished) return;
    finished = true;
    clearTimeout(deadline);
    signal.removeEventListener('abort', onAbort);
    sub.unsubscribe();
  };
  let expected = 0;
  const nextFrame = async (): Promise<SpeechFrame> => {
    const msg = await queue.next();
    if (isNoRespondersReply(msg))
      throw new AgentbusError(
        'no_worker',
        `No worker serves the voice agent "${agent}". Start one with "npm run worker" (or "npm start").`,
      );
    const frame = decodeSpeechFrame(msg.data);
    if (frame.seq !== expected++)
      throw new AgentbusError('stream_protocol_error', `speech frame ${frame.seq} arrived, ${expected - 1} expected`);
    if (frame.type === 'error') throw errorFromWire(frame.error);
    return frame;
  };

  const h = natsHeaders();
  h.set('Agentbus-Request-Id', request.request_id);
  if (request.traceparent) h.set('traceparent', request.traceparent);
  const data = encodeJson(request);
  bus.publish(subjects.speech(agent), data, { reply: inbox, headers: h });
  // A copy for the audit stream (AUDIT=on), which nobody answers: as bus-call.ts does for chat.
  if (options.auditSubject) bus.publish(options.auditSubject, data, { headers: h });
  let start: SpeechFrame;
  try {
    start = await nextFrame();
    if (start.type !== 'start') throw new AgentbusError('stream_protocol_error', 'speech began without "start"');
  } catch (err) {
    end();
    throw err;
  }
  async function* audio(): AsyncGenerator<Buffer> {
    let bytes = 0;
    try {
      for (;;) {
        const frame = await nextFrame();
        if (frame.type === 'audio') {
          const chunk = Buffer.from(frame.data, 'base64');
          bytes += chunk.length;
          yield chunk;
        } else if (frame.type === 'done') {
          if (frame.bytes !== bytes)
            throw new AgentbusError('stream_protocol_error', `speech ended at ${bytes} of ${frame.bytes} bytes`);
          end();
          return;
        } else throw new AgentbusError('stream_protocol_error', `unexpected speech frame "${frame.type}"`);
      }
    } finally {
      // Left early (the client went away mid-stream): the worker stops too.
      if (!finished && !signal.aborted) onAbort();
      end();
    }
  }
  return { start, audio: audio() };
}
