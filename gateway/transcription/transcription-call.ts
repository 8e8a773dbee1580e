import {
  AgentbusError,
  SPEECH_CHUNK_BYTES,
  decodeTranscriptionFrame,
  encodeJson,
  type Subjects,
  type TranscriptionDone,
  type TranscriptionFrame,
  type TranscriptionRequest,
  type TranscriptionUpload,
} from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';
import { openUntilFirstFrame, type VoiceCallNames } from '../audio/voice-call.js';
import { openWithRetry } from '../audio/open-with-retry.js';

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

const NAMES: VoiceCallNames<TranscriptionFrame> = {
  decode: decodeTranscriptionFrame,
  frames: 'transcription',
  awaited: 'transcript',
  leftBefore: 'the transcript was ready',
};

/** One attempt: the request sent, up to the worker's `ready` with the inbox for the audio (or its refusal). */
async function openTranscription(bus: Bus, subjects: Subjects, request: TranscriptionRequest, signal: AbortSignal) {
  return openUntilFirstFrame(bus, subjects, request, signal, NAMES, {
    subject: subjects.transcribe(request.intent),
    first: 'ready',
    check: (ready) => {
      if (!WORKER_INBOX.test(ready.upload))
        throw new AgentbusError('stream_protocol_error', `the worker asked for the audio on "${ready.upload}"`);
    },
  });
}

/**
 * Sends a transcription to the agent's queue group: the request, then — once a worker answered
 * `ready` with its upload subject — the audio in ordered `audio` frames of at most
 * SPEECH_CHUNK_BYTES and an `end` frame with the byte total, then reads `done`. Frames are read in
 * `seq` order (a gap is `stream_protocol_error`). Aborting `signal` (the client left) announces a
 * cancel on `<prefix>.<agent>.cancel`, so the worker stops waiting or kills its engine. A
 * retryable refusal before `ready` (no audio sent yet) is asked once more (open-with-retry.ts).
 */
export async function callTranscription(
  bus: Bus,
  subjects: Subjects,
  request: TranscriptionRequest,
  audio: Buffer,
  signal: AbortSignal,
  onRetry?: (error: AgentbusError) => void,
): Promise<TranscriptionAnswer> {
  const { call, first: ready } = await openWithRetry({
    request,
    signal,
    open: (attempt) => openTranscription(bus, subjects, attempt, signal),
    ...(onRetry ? { onRetry } : {}),
  });
  let heard = false;
  try {
    await upload(bus, ready.upload, request.request_id, audio, signal);
    const done = await call.next();
    if (done.type !== 'done')
      throw new AgentbusError('stream_protocol_error', `unexpected transcription frame "${done.type}"`);
    heard = true;
    return { ready, done };
  } finally {
    // Ended here without its transcript (the gateway stopping, a broken exchange): the engine stops
    // too. A client that left has sent its cancel already.
    if (!heard && !signal.aborted) call.cancel('the gateway ended the call');
    call.end();
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
