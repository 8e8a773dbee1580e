import { AgentbusError, type SpeechFormat } from '../../bus-schemas/index.js';
import type { ChatBody } from './chat-completion-request.schema.js';

/** How a chat answer is to be spoken: OpenAI's `audio` parameter, mapped to the speech bus's terms. */
export interface ChatAudio {
  voice: string;
  /** The speech format (`pcm` for OpenAI's chat name `pcm16`). */
  format: SpeechFormat;
}

/**
 * What a chat body says about audio output: `audio` when it asks for it (`modalities` with
 * "audio" and `audio: {voice, format}`), `text` when `modalities` is just ["text"] (no spoken
 * answer, even from a voice agent asked for speech), `unset` when it says nothing. Half a request
 * (one without the other, or audio without text) is a 400 naming the missing key.
 */
export function audioOutputOf(body: ChatBody): { kind: 'audio'; audio: ChatAudio } | { kind: 'text' | 'unset' } {
  const modalities = body.modalities ?? undefined;
  const wantsAudio = modalities?.includes('audio') === true;
  if (modalities && !modalities.includes('text'))
    throw new AgentbusError('invalid_request', 'modalities must include "text": send ["text"] or ["text", "audio"].', {
      param: 'modalities',
    });
  if (body.audio != null && !wantsAudio)
    throw new AgentbusError('invalid_request', '"audio" needs modalities ["text", "audio"] to be spoken.', {
      param: 'modalities',
    });
  if (!wantsAudio) return { kind: modalities ? 'text' : 'unset' };
  const audio = body.audio;
  if (audio == null)
    throw new AgentbusError(
      'invalid_request',
      'modalities asks for "audio": send "audio": {"voice": …, "format": …} too ' +
        '(e.g. {"voice": "alloy", "format": "wav"}).',
      { param: 'audio' },
    );
  return { kind: 'audio', audio: { voice: audio.voice, format: audio.format === 'pcm16' ? 'pcm' : audio.format } };
}
