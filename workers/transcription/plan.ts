import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AgentbusError, type TranscriptionFormat } from '../../bus-schemas/index.js';
import { findBinary } from '../speech/find-binary.js';
import { pcmCapArgs } from './audio-limits.js';
import type { TranscriptionSettings } from './settings.js';

/** The languages the US English model understands, as ISO-639-1 (OpenAI's `language`) or a locale. */
const ENGLISH = /^en([-_]us)?$/i;

/** How one upload is heard: pocketsphinx's command line (less `-infile`), and ffmpeg when it must convert. */
export interface TranscriptionPlan {
  pocketsphinx: { command: string; args: string[] };
  /** Found when installed; whether it is needed shows only once the audio is in (a 16 kHz WAV is not converted). */
  ffmpeg: string | undefined;
  format: TranscriptionFormat;
  /** MAX_TRANSCRIPTION_SECONDS: longer audio is refused by its WAV header, or cut by ffmpeg. */
  maxSeconds: number;
}

const howToInstall =
  'run "apt-get install pocketsphinx pocketsphinx-en-us" as root, or start the stack with "npm start" as root.';

/**
 * pocketsphinx's invocation for a request, checked before any audio travels: a missing engine or
 * model is `transcription_engine_unavailable` naming the install command; a language the model does
 * not know, `invalid_request` naming `language`.
 */
export function planTranscription(
  request: { format: TranscriptionFormat; language?: string | undefined },
  settings: TranscriptionSettings,
  find: (command: string) => string | undefined = findBinary,
  exists: (path: string) => boolean = existsSync,
): TranscriptionPlan {
  if (request.language !== undefined && !ENGLISH.test(request.language))
    throw new AgentbusError(
      'invalid_request',
      `language "${request.language}" is not available: pocketsphinx has the US English model only ("en").`,
      { param: 'language' },
    );
  const command = find(settings.pocketsphinxPath);
  if (!command)
    throw new AgentbusError(
      'transcription_engine_unavailable',
      `The transcription engine pocketsphinx ("${settings.pocketsphinxPath}", POCKETSPHINX_PATH) is not installed ` +
        `on this worker: ${howToInstall}`,
    );
  const model = {
    hmm: join(settings.modelDir, 'en-us'),
    lm: join(settings.modelDir, 'en-us.lm.bin'),
    dict: join(settings.modelDir, 'cmudict-en-us.dict'),
  };
  const missing = Object.values(model).filter((path) => !exists(path));
  if (missing.length > 0)
    throw new AgentbusError(
      'transcription_engine_unavailable',
      `pocketsphinx's US English model is not on this worker (missing ${missing.join(', ')}; ` +
        `POCKETSPHINX_MODEL_DIR): ${howToInstall}`,
    );
  return {
    pocketsphinx: {
      command,
      // `-time yes`: word times, which verbose_json, srt and vtt need.
      args: ['-time', 'yes', '-hmm', model.hmm, '-lm', model.lm, '-dict', model.dict],
    },
    ffmpeg: find(settings.ffmpegPath),
    format: request.format,
    maxSeconds: settings.maxSeconds,
  };
}

/**
 * ffmpeg's demuxer for each container the gateway sniffed. Forced, not probed: a probe skips an
 * ID3 tag and may find a playlist (HLS) after it, whose entries ffmpeg would then open — files
 * on the worker, or URLs — and transcribe.
 */
const DEMUXERS: Record<TranscriptionFormat, string> = {
  wav: 'wav',
  mp3: 'mp3',
  ogg: 'ogg',
  flac: 'flac',
  webm: 'matroska',
  mp4: 'mov',
};

/**
 * ffmpeg's arguments: the upload from the file `input` (a file, not stdin, because an mp4's index
 * may come after its audio, which a pipe cannot seek back to) read as `format` by its own demuxer
 * and nothing else (no other protocol than the file), 16 kHz mono 16-bit PCM into `output`, at
 * most `maxSeconds` of it.
 */
export const ffmpegToPcm = (input: string, output: string, maxSeconds: number, format: TranscriptionFormat) => [
  '-hide_banner',
  '-loglevel',
  'error',
  '-protocol_whitelist',
  'file',
  '-f',
  DEMUXERS[format],
  '-i',
  input,
  '-vn',
  '-ac',
  '1',
  '-ar',
  '16000',
  ...pcmCapArgs(maxSeconds),
  '-f',
  's16le',
  '-y',
  output,
];
