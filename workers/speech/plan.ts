import { AgentbusError, type SpeechFormat, type SpeechRequest } from '../../bus-schemas/index.js';
import { findBinary } from './find-binary.js';
import { CONTENT_TYPES, FFMPEG_OUTPUT } from './formats.js';
import type { SpeechSettings } from './settings.js';
import { espeakVoice, wordsPerMinute } from './voice.js';

/** How one request is spoken: the processes to run and what comes out. */
export interface SpeechPlan {
  voice: string;
  espeak: { command: string; args: string[] };
  /** The encoder after espeak-ng, or undefined for `wav`. */
  ffmpeg: { command: string; args: string[] } | undefined;
  format: SpeechFormat;
  contentType: string;
}

/**
 * The espeak-ng (and ffmpeg) invocation for a request. The text goes on stdin (`--stdin`), never
 * on the command line. A missing engine is `speech_engine_unavailable`; a format whose encoder
 * is missing, `audio_format_unavailable` naming it; an unknown voice, `invalid_request`.
 */
export function planSpeech(
  request: Pick<SpeechRequest, 'input' | 'voice' | 'format' | 'speed'>,
  settings: SpeechSettings,
  find: (command: string) => string | undefined = findBinary,
): SpeechPlan {
  const voice = espeakVoice(request.voice, request.input);
  const espeak = find(settings.espeakPath);
  if (!espeak)
    throw new AgentbusError(
      'speech_engine_unavailable',
      `The speech engine espeak-ng ("${settings.espeakPath}", ESPEAK_NG_PATH) is not installed on this worker: ` +
        'run "apt-get install espeak-ng" as root, or start the stack with "npm start" as root.',
    );
  let ffmpeg: SpeechPlan['ffmpeg'];
  if (request.format !== 'wav') {
    const command = find(settings.ffmpegPath);
    if (!command)
      throw new AgentbusError(
        'audio_format_unavailable',
        `response_format "${request.format}" needs ffmpeg ("${settings.ffmpegPath}", FFMPEG_PATH), which is not ` +
          'installed on this worker ("apt-get install ffmpeg"). Available: wav.',
        { param: 'response_format' },
      );
    const args = ['-hide_banner', '-loglevel', 'error', '-f', 'wav', '-i', 'pipe:0', ...FFMPEG_OUTPUT[request.format]];
    ffmpeg = { command, args: [...args, 'pipe:1'] };
  }
  return {
    voice,
    espeak: {
      command: espeak,
      args: ['--stdout', '--stdin', '-v', voice, '-s', String(wordsPerMinute(request.speed))],
    },
    ffmpeg,
    format: request.format,
    contentType: CONTENT_TYPES[request.format],
  };
}
