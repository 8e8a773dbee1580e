import { AgentbusError } from '../../../bus-schemas/index.js';
import { planTranscription } from '../../transcription/plan.js';
import { recognize } from '../../transcription/recognize.js';
import type { TranscriptionSettings } from '../../transcription/settings.js';
import type { AudioProvider, TranscribeRequest, Transcript } from '../types.js';

/**
 * Debian's pocketsphinx with its US English model, on the worker's machine: the upload goes to a
 * private temporary file (converted by ffmpeg when needed), never off the machine.
 */
export function createPocketsphinxProvider(settings: TranscriptionSettings): AudioProvider {
  function refuseTranscription(request: { format: TranscribeRequest['format']; language?: string | undefined }) {
    try {
      planTranscription(request, settings);
      return undefined;
    } catch (err) {
      if (err instanceof AgentbusError) return err;
      throw err;
    }
  }

  async function transcribe(request: TranscribeRequest): Promise<Transcript> {
    // Planned again: the engine may have gone since the check before the upload.
    const heard = await recognize(planTranscription(request, settings), request.audio, request.signal);
    // Only a format without a trusted length gets here when longer: the client sees the cut in `duration`.
    if (heard.duration >= settings.maxSeconds)
      request.log.warn(
        { format: request.format, maxSeconds: settings.maxSeconds },
        'heard the audio up to MAX_TRANSCRIPTION_SECONDS only; the rest was cut',
      );
    return { ...heard, language: 'en' };
  }

  return Object.freeze({ name: 'pocketsphinx', endpoint: settings.pocketsphinxPath, refuseTranscription, transcribe });
}
