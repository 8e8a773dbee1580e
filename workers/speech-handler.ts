import {
  AgentbusError,
  decodeSpeechRequest,
  encodeJson,
  type SpeechFrame,
  type SpeechRequest,
} from '../bus-schemas/index.js';
import type { Bus } from '../common/bus.js';
import type { Agent } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import type { InFlight } from './in-flight.js';
import { Chunker } from './speech/chunks.js';
import { planSpeech } from './speech/plan.js';
import type { SpeechSettings } from './speech/settings.js';
import { synthesize } from './speech/synthesize.js';

export interface SpeechHandlerDeps {
  bus: Pick<Bus, 'publish'>;
  agent: Agent;
  settings: SpeechSettings;
  workerId: string;
  log: Logger;
}

/** An incoming speech request: its bytes and where the frames go. */
export interface IncomingSpeechRequest {
  data: Uint8Array;
  reply?: string;
}

type FrameBody = SpeechFrame extends infer F ? (F extends SpeechFrame ? Omit<F, 'seq' | 'request_id'> : never) : never;

/** Says one request with espeak-ng, streaming `start`, `audio`… and `done` on `reply`. */
async function speak(
  deps: SpeechHandlerDeps,
  request: SpeechRequest,
  send: (frame: FrameBody) => void,
  signal: AbortSignal,
): Promise<void> {
  const started = Date.now();
  const plan = planSpeech(request, deps.settings);
  deps.log.info(
    { requestId: request.request_id, espeak: [plan.espeak.command, ...plan.espeak.args].join(' ') },
    'speaking',
  );
  send({
    type: 'start',
    voice: plan.voice,
    format: plan.format,
    content_type: plan.contentType,
    provider: 'espeak-ng',
    worker: deps.workerId,
  });
  const chunker = new Chunker();
  let bytes = 0;
  const sendAudio = (chunk: Buffer) => {
    bytes += chunk.length;
    send({ type: 'audio', data: chunk.toString('base64') });
  };
  for await (const piece of synthesize(plan, request.input, signal)) chunker.push(piece).forEach(sendAudio);
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
  const reply = msg.reply;
  if (!reply) {
    deps.log.warn('speech request without a reply subject dropped');
    return { ok: false, code: 'invalid_envelope' };
  }
  let requestId = 'unknown';
  let seq = 0;
  const send = (frame: FrameBody) =>
    deps.bus.publish(reply, encodeJson({ ...frame, seq: seq++, request_id: requestId }));
  let held: ReturnType<InFlight['enter']> | undefined;
  try {
    const request = decodeSpeechRequest(msg.data);
    requestId = request.request_id;
    if (request.intent !== deps.agent.name)
      throw new AgentbusError(
        'invalid_envelope',
        `speech request for "${request.intent}" arrived on the subject of "${deps.agent.name}"`,
        { param: 'intent' },
      );
    held = inFlight.enter(requestId);
    const signal = AbortSignal.any([held.signal, AbortSignal.timeout(request.timeout_ms)]);
    try {
      await speak(deps, request, send, signal);
    } catch (err) {
      if (held.signal.aborted) throw held.signal.reason;
      if (signal.aborted)
        throw new AgentbusError('deadline_exceeded', `No speech within ${request.timeout_ms} ms.`, { cause: err });
      throw err;
    }
    return { ok: true };
  } catch (err) {
    const error =
      err instanceof AgentbusError
        ? err
        : new AgentbusError('internal_error', `speech failed: ${(err as Error)?.message ?? String(err)}`, {
            cause: err,
          });
    deps.log[error.code === 'internal_error' ? 'error' : 'info']({ requestId, code: error.code }, error.message);
    try {
      send({ type: 'error', error: error.toWire() });
    } catch (publishError) {
      deps.log.warn({ err: publishError, requestId }, 'could not publish the speech error frame');
    }
    return { ok: false, code: error.code };
  } finally {
    held?.leave();
  }
}
