import {
  AgentbusError,
  decodeTranscriptionRequest,
  encodeJson,
  type TranscriptionFrame,
  type TranscriptionRequest,
} from '../bus-schemas/index.js';
import type { Bus } from '../common/bus.js';
import type { Agent } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import type { InFlight } from './in-flight.js';
import type { AudioChains } from './audio/chains.js';
import { receiveUpload } from './transcription/upload.js';

export interface TranscriptionHandlerDeps {
  bus: Pick<Bus, 'publish' | 'newInbox' | 'subscribe'>;
  agent: Agent;
  /** The voice agents' chains of audio engines (transcription: pocketsphinx, openai). */
  audio: AudioChains;
  workerId: string;
  log: Logger;
}

type FrameBody = TranscriptionFrame extends infer F
  ? F extends TranscriptionFrame
    ? Omit<F, 'seq' | 'request_id'>
    : never
  : never;

/** Takes the upload of one request and hears it with the agent's chain of engines: `ready`, then `done`. */
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
    private: request.private === true,
  });
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
  const reply = msg.reply;
  if (!reply) {
    deps.log.warn('transcription request without a reply subject dropped');
    return { ok: false, code: 'invalid_envelope' };
  }
  let requestId = 'unknown';
  let seq = 0;
  const send = (frame: FrameBody) =>
    deps.bus.publish(reply, encodeJson({ ...frame, seq: seq++, request_id: requestId }));
  let held: ReturnType<InFlight['enter']> | undefined;
  try {
    const request = decodeTranscriptionRequest(msg.data);
    requestId = request.request_id;
    if (request.intent !== deps.agent.name)
      throw new AgentbusError(
        'invalid_envelope',
        `transcription request for "${request.intent}" arrived on the subject of "${deps.agent.name}"`,
        { param: 'intent' },
      );
    held = inFlight.enter(requestId);
    const signal = AbortSignal.any([held.signal, AbortSignal.timeout(request.timeout_ms)]);
    try {
      await transcribe(deps, request, send, signal);
    } catch (err) {
      if (held.signal.aborted) throw held.signal.reason;
      if (signal.aborted)
        throw new AgentbusError('deadline_exceeded', `No transcript within ${request.timeout_ms} ms.`, { cause: err });
      throw err;
    }
    return { ok: true };
  } catch (err) {
    const error =
      err instanceof AgentbusError
        ? err
        : new AgentbusError('internal_error', `transcription failed: ${(err as Error)?.message ?? String(err)}`, {
            cause: err,
          });
    deps.log[error.code === 'internal_error' ? 'error' : 'info']({ requestId, code: error.code }, error.message);
    try {
      send({ type: 'error', error: error.toWire() });
    } catch (publishError) {
      deps.log.warn({ err: publishError, requestId }, 'could not publish the transcription error frame');
    }
    return { ok: false, code: error.code };
  } finally {
    held?.leave();
  }
}
