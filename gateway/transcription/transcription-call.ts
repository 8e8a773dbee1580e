import { headers as natsHeaders } from '@nats-io/transport-node';
import {
  AgentbusError,
  PROTOCOL_VERSION,
  SPEECH_CHUNK_BYTES,
  decodeTranscriptionFrame,
  encodeJson,
  errorFromWire,
  inboxScopes,
  type CancelRequest,
  type Subjects,
  type TranscriptionDone,
  type TranscriptionFrame,
  type TranscriptionRequest,
  type TranscriptionUpload,
} from '../../bus-schemas/index.js';
import { isNoRespondersReply, type Bus, type BusMessage } from '../../common/bus.js';
import { FrameQueue } from '../speech/frame-queue.js';

type ReadyFrame = Extract<TranscriptionFrame, { type: 'ready' }>;

/** A worker's answer: who heard it (`ready`) and what it heard (`done`). */
export interface TranscriptionAnswer {
  ready: ReadyFrame;
  done: TranscriptionDone;
}

// Where a worker may ask for the audio: one of its own inboxes. Anything else (another agent's
// subject, say) would make the gateway publish the upload where the worker pleases.
const WORKER_INBOX = /^_INBOX\.worker\.[A-Za-z0-9_.-]+$/;
// Frames between two flushes: the upload leaves in slices of ~1 MiB, not all at once.
const FLUSH_EVERY = 32;

/**
 * Sends a transcription to the agent's queue group: the request, then — once a worker answered
 * `ready` with its upload subject — the audio in ordered `audio` frames of at most
 * SPEECH_CHUNK_BYTES and an `end` frame with the byte total, then reads `done`. Frames are read in
 * `seq` order (a gap is `stream_protocol_error`). Aborting `signal` (the client left) announces a
 * cancel on `<prefix>.<agent>.cancel`, so the worker stops waiting or kills its engine.
 */
export async function callTranscription(
  bus: Bus,
  subjects: Subjects,
  request: TranscriptionRequest,
  audio: Buffer,
  signal: AbortSignal,
): Promise<TranscriptionAnswer> {
  const agent = request.intent;
  const queue = new FrameQueue<BusMessage>();
  // The agent's chat inbox scope, so a worker credential scoped to the agent may answer (nats.conf).
  const sub = bus.subscribeInbox(inboxScopes.chat(agent), (err, msg) => (err ? queue.fail(err) : queue.push(msg)));
  const inbox = sub.getSubject();
  const deadlineMs = request.timeout_ms + 1_000;
  const deadline = setTimeout(
    () => queue.fail(new AgentbusError('deadline_exceeded', `No transcript within ${deadlineMs} ms.`)),
    deadlineMs,
  );
  let finished = false;
  const onAbort = () => {
    if (finished) return;
    const cancel: CancelRequest = { v: PROTOCOL_VERSION, request_id: request.request_id, reason: 'client left' };
    bus.publish(subjects.cancel(agent), encodeJson(cancel));
    queue.fail(new AgentbusError('request_cancelled', 'The client left before the transcript was ready.'));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  let expected = 0;
  const nextFrame = async (): Promise<TranscriptionFrame> => {
    const msg = await queue.next();
    if (isNoRespondersReply(msg))
      throw new AgentbusError(
        'no_worker',
        `No worker serves the voice agent "${agent}". Start one with "npm run worker" (or "npm start").`,
      );
    const frame = decodeTranscriptionFrame(msg.data);
    if (frame.seq !== expected++)
      throw new AgentbusError(
        'stream_protocol_error',
        `transcription frame ${frame.seq} arrived, ${expected - 1} expected`,
      );
    if (frame.type === 'error') throw errorFromWire(frame.error);
    return frame;
  };
  try {
    const h = natsHeaders();
    h.set('Agentbus-Request-Id', request.request_id);
    if (request.traceparent) h.set('traceparent', request.traceparent);
    bus.publish(subjects.transcribe(agent), encodeJson(request), { reply: inbox, headers: h });
    const ready = await nextFrame();
    if (ready.type !== 'ready') throw new AgentbusError('stream_protocol_error', 'transcription began without "ready"');
    if (!WORKER_INBOX.test(ready.upload))
      throw new AgentbusError('stream_protocol_error', `the worker asked for the audio on "${ready.upload}"`);
    await upload(bus, ready.upload, request.request_id, audio, signal);
    const done = await nextFrame();
    if (done.type !== 'done')
      throw new AgentbusError('stream_protocol_error', `unexpected transcription frame "${done.type}"`);
    return { ready, done };
  } finally {
    finished = true;
    clearTimeout(deadline);
    signal.removeEventListener('abort', onAbort);
    sub.unsubscribe();
  }
}

/** The audio as `audio` frames in order, then `end`; stops early when the client left. */
async function upload(bus: Bus, subject: string, requestId: string, audio: Buffer, signal: AbortSignal) {
  let seq = 0;
  const send = (frame: { type: 'audio'; data: string } | { type: 'end'; bytes: number }) =>
    bus.publish(subject, encodeJson({ ...frame, seq: seq++, request_id: requestId } satisfies TranscriptionUpload));
  for (let offset = 0; offset < audio.length; offset += SPEECH_CHUNK_BYTES) {
    send({ type: 'audio', data: audio.subarray(offset, offset + SPEECH_CHUNK_BYTES).toString('base64') });
    if (seq % FLUSH_EVERY === 0) {
      await bus.flush();
      signal.throwIfAborted();
    }
  }
  send({ type: 'end', bytes: audio.length });
}
