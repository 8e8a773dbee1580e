import {
  decodeTranscriptionRequest,
  type TranscriptionFrame,
  type TranscriptionRequest,
} from '../bus-schemas/index.js';
import type { Bus } from '../common/bus.js';
import type { Agent } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import type { Admission } from './admission.js';
import type { InFlight } from './in-flight.js';
import { answerWithFrames, type FrameBody as FramedBody } from './audio/answer-with-frames.js';
import type { AudioChains } from './audio/chains.js';
import type { PreparedTranscription } from './audio/transcription-chain.js';
import { receiveUpload } from './transcription/upload.js';

export interface TranscriptionHandlerDeps {
  bus: Pick<Bus, 'publish' | 'newInbox' | 'subscribe'>;
  agent: Agent;
  /** The voice agents' chains of audio engines (transcription: pocketsphinx, openai). */
  audio: AudioChains;
  /** The worker's gate (MAX_INFLIGHT): an engine run is a call like a model's. */
  admission: Pick<Admission, 'acquire'>;
  workerId: string;
  log: Logger;
}

type FrameBody = FramedBody<TranscriptionFrame>;

/**
 * Takes the upload of one request and hears it with the agent's chain of engines: `ready`, then
 * `done`. The slot is taken before `ready`, so a waiting request holds no audio on this worker.
 */
async function transcribe(
  deps: TranscriptionHandlerDeps,
  request: TranscriptionRequest,
  send: (frame: FrameBody) => void,
  signal: AbortSignal,
): Promise<void> {
  // Checked before any audio travels: a worker without a usable engine answers at once.
  const prepared = deps.audio.prepareTranscription(deps.agent, {
    format: request.format,
    language: request.language,
    translate: request.translate === true,
    private: request.private === true,
  });
  const slot = await deps.admission.acquire(signal);
  try {
    await hear(deps, request, prepared, send, signal);
  } finally {
    slot.release();
  }
}

async function hear(
  deps: TranscriptionHandlerDeps,
  request: TranscriptionRequest,
  prepared: PreparedTranscription,
  send: (frame: FrameBody) => void,
  signal: AbortSignal,
): Promise<void> {
  const upload = receiveUpload(deps.bus, request, signal);
  send({ type: 'ready', upload: upload.subject, provider: prepared.provider, worker: deps.workerId });
  const audio = await upload.audio;
  const started = Date.now();
  deps.log.info({ requestId: request.request_id, bytes: audio.length, format: request.format }, 'transcribing');
  const heard = await prepared.transcribe(audio, signal, deps.log.child({ requestId: request.request_id }));
  send({
    type: 'done',
    text: heard.text,
    language: heard.language,
    duration: heard.duration,
    segments: heard.segments,
    words: heard.words,
    processing_ms: Date.now() - started,
    provider: heard.provider,
    ...(heard.fallback.length > 0 ? { fallback: heard.fallback } : {}),
  });
}

/**
 * Answers one `<prefix>.<agent>.transcribe` request with frames on its reply subject; errors are
 * an `error` frame, never thrown. A cancel (or the deadline) stops the upload or kills the engine.
 */
export async function handleTranscriptionRequest(
  deps: TranscriptionHandlerDeps,
  msg: { data: Uint8Array; reply?: string | undefined },
  inFlight: InFlight,
): Promise<{ ok: true } | { ok: false; code: string }> {
  return answerWithFrames(deps, msg, inFlight, {
    name: 'transcription',
    missing: 'transcript',
    decode: decodeTranscriptionRequest,
    work: (request, send, signal) => transcribe(deps, request, send, signal),
  });
}
