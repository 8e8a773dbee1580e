import {
  AgentbusError,
  decodeSpeechFrame,
  type SpeechFrame,
  type SpeechRequest,
  type Subjects,
} from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';
import { openUntilFirstFrame, type VoiceCall, type VoiceCallNames } from '../audio/voice-call.js';
import { openWithRetry } from '../audio/open-with-retry.js';

type StartFrame = Extract<SpeechFrame, { type: 'start' }>;

/** A speech answer under way: what the audio is, then its bytes in order. */
export interface SpeechCall {
  start: StartFrame;
  /** The audio, chunk by chunk; throws the worker's error, or a cut-off answer's. */
  audio: AsyncGenerator<Buffer>;
}

const NAMES: VoiceCallNames<SpeechFrame> = {
  decode: decodeSpeechFrame,
  frames: 'speech',
  awaited: 'complete speech',
  leftBefore: 'the speech ended',
};

/**
 * Sends a speech request to the agent's queue group and reads its frames in `seq` order (a gap
 * is `stream_protocol_error`: a truncated answer never looks complete). Aborting `signal` (the
 * client left) announces a cancel on `<prefix>.<agent>.cancel`, so the worker kills its engine.
 * With `auditSubject`, a copy of the request goes there for the audit stream. A retryable refusal
 * before `start` is asked once more (open-with-retry.ts).
 */
export async function callSpeech(
  bus: Bus,
  subjects: Subjects,
  request: SpeechRequest,
  signal: AbortSignal,
  options: { auditSubject?: string | undefined; onRetry?: (error: AgentbusError) => void } = {},
): Promise<SpeechCall> {
  const { call, first: start } = await openWithRetry({
    request,
    signal,
    // The audit stream keeps one copy of the request, not one per attempt.
    open: (attempt, n) =>
      openUntilFirstFrame(bus, subjects, attempt, signal, NAMES, {
        subject: subjects.speech(request.intent),
        auditSubject: n === 1 ? options.auditSubject : undefined,
        first: 'start',
      }),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  });
  return { start, audio: speechAudio(call, signal) };
}

/** The speech's audio, chunk by chunk (module level: see call/call.ts's callFrames). */
async function* speechAudio(call: VoiceCall<SpeechFrame>, signal: AbortSignal): AsyncGenerator<Buffer> {
  let bytes = 0;
  try {
    for (;;) {
      const frame = await call.next();
      if (frame.type === 'audio') {
        const chunk = Buffer.from(frame.data, 'base64');
        bytes += chunk.length;
        yield chunk;
      } else if (frame.type === 'done') {
        if (frame.bytes !== bytes)
          throw new AgentbusError('stream_protocol_error', `speech ended at ${bytes} of ${frame.bytes} bytes`);
        call.end();
        return;
      } else throw new AgentbusError('stream_protocol_error', `unexpected speech frame "${frame.type}"`);
    }
  } finally {
    // Left early (the client went away mid-stream): the worker stops too.
    if (!call.ended && !signal.aborted) call.cancel();
    call.end();
  }
}
