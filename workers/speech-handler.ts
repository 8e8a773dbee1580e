import { decodeSpeechRequest, type SpeechFrame, type SpeechRequest } from '../bus-schemas/index.js';
import type { Bus } from '../common/bus.js';
import type { Agent } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import type { Admission } from './admission.js';
import type { InFlight } from './in-flight.js';
import { answerWithFrames, type FrameBody as FramedBody } from './audio/answer-with-frames.js';
import type { AudioChains } from './audio/chains.js';
import { Chunker } from './speech/chunks.js';

export interface SpeechHandlerDeps {
  bus: Pick<Bus, 'publish'>;
  agent: Agent;
  /** The worker's chains of audio engines (espeak-ng, openai, …) with their breakers. */
  audio: AudioChains;
  /** The worker's gate (MAX_INFLIGHT): an engine run is a call like a model's. */
  admission: Pick<Admission, 'acquire'>;
  workerId: string;
  log: Logger;
}

/** An incoming speech request: its bytes and where the frames go. */
export interface IncomingSpeechRequest {
  data: Uint8Array;
  reply?: string;
}

type FrameBody = FramedBody<SpeechFrame>;

/** Says one request once the worker's gate lets an engine run, holding the slot until the audio ends. */
async function speak(
  deps: SpeechHandlerDeps,
  request: SpeechRequest,
  send: (frame: FrameBody) => void,
  signal: AbortSignal,
): Promise<void> {
  const slot = await deps.admission.acquire(signal);
  try {
    await say(deps, request, send, signal);
  } finally {
    slot.release();
  }
}

/**
 * Says one request with the agent's chain of audio engines, streaming `start`, `audio`… and
 * `done` on `reply`. `start` goes only once an engine made its first bytes, so a fallback to the
 * next engine is invisible to the client.
 */
async function say(
  deps: SpeechHandlerDeps,
  request: SpeechRequest,
  send: (frame: FrameBody) => void,
  signal: AbortSignal,
): Promise<void> {
  const started = Date.now();
  const reqLog = deps.log.child({ requestId: request.request_id });
  const opened = await deps.audio.speak(
    deps.agent,
    {
      input: request.input,
      voice: request.voice,
      format: request.format,
      speed: request.speed,
      signal,
      private: request.private === true,
    },
    reqLog,
  );
  send({
    type: 'start',
    voice: opened.voice,
    format: request.format,
    content_type: opened.contentType,
    provider: opened.provider,
    worker: deps.workerId,
    ...(opened.fallback.length > 0 ? { fallback: opened.fallback } : {}),
  });
  const chunker = new Chunker();
  let bytes = 0;
  const sendAudio = (chunk: Buffer) => {
    bytes += chunk.length;
    send({ type: 'audio', data: chunk.toString('base64') });
  };
  for await (const piece of opened.audio) chunker.push(piece).forEach(sendAudio);
  chunker.flush().forEach(sendAudio);
  send({ type: 'done', bytes, processing_ms: Date.now() - started });
}

/**
 * Answers one `<prefix>.<agent>.speech` request with frames on its reply subject; errors are an
 * `error` frame, never thrown. A cancel (or the deadline) kills the engine mid-sentence.
 */
export async function handleSpeechRequest(
  deps: SpeechHandlerDeps,
  msg: IncomingSpeechRequest,
  inFlight: InFlight,
): Promise<{ ok: true } | { ok: false; code: string }> {
  return answerWithFrames(deps, msg, inFlight, {
    name: 'speech',
    missing: 'speech',
    decode: decodeSpeechRequest,
    work: (request, send, signal) => speak(deps, request, send, signal),
  });
}
