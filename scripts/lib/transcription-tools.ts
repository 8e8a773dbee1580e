import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary } from '../../workers/speech/find-binary.js';
import type { AudioSettings } from '../../workers/audio/settings.js';
import type { TranscriptionSettings } from '../../workers/transcription/settings.js';
import { ensureDebianTool } from './install-debian-package.js';

const APT = 'sudo apt-get install pocketsphinx pocketsphinx-en-us';

/**
 * pocketsphinx and its US English model, the engine of POST /v1/audio/transcriptions, installing
 * Debian's packages when missing and we can (root). Returns the recognizer's path.
 */
export function ensurePocketsphinx(settings: TranscriptionSettings, say: (line: string) => void): string {
  const howToInstall =
    `Voice agents transcribe with it: install it ("${APT}" on Debian/Ubuntu) ` +
    'or set POCKETSPHINX_PATH and POCKETSPHINX_MODEL_DIR.';
  const binary = ensureDebianTool(
    {
      name: 'pocketsphinx',
      debianPackage: 'pocketsphinx',
      find: () => findBinary(settings.pocketsphinxPath),
      howToInstall,
    },
    say,
  );
  const model = join(settings.modelDir, 'en-us.lm.bin');
  ensureDebianTool(
    {
      name: "pocketsphinx's US English model",
      debianPackage: 'pocketsphinx-en-us',
      find: () => (existsSync(model) ? model : undefined),
      howToInstall,
    },
    say,
  );
  return binary;
}

/** Where Debian's `pocketsphinx-testdata` puts its recordings; the transcription tests need them. */
export const POCKETSPHINX_TESTDATA = '/usr/share/pocketsphinx/test/data';

/** The recordings the transcription tests hear (`goforward.raw`, `librivox/`), installed when missing and we can. */
export function ensurePocketsphinxTestdata(say: (line: string) => void): string {
  const marker = join(POCKETSPHINX_TESTDATA, 'librivox', 'transcription');
  return ensureDebianTool(
    {
      name: "pocketsphinx's test recordings",
      debianPackage: 'pocketsphinx-testdata',
      find: () => (existsSync(marker) ? marker : undefined),
      howToInstall: 'The transcription tests hear them: "sudo apt-get install pocketsphinx-testdata".',
    },
    say,
  );
}

/**
 * What `npm start` says about listening, after the speech line: pocketsphinx is installed on first
 * use (as root); the line names what is missing and how to add it, and the audio server when
 * TRANSCRIPTION_PROVIDER is openai.
 */
export function listenLine(
  settings: TranscriptionSettings,
  say: (line: string) => void,
  audio?: AudioSettings,
): string {
  const server =
    audio?.transcriptionProvider === 'openai'
      ? `the OpenAI-compatible audio server at ${audio.openai.baseUrl} transcribes (TRANSCRIPTION_PROVIDER=openai); `
      : '';
  try {
    const binary = ensurePocketsphinx(settings, say);
    const ffmpeg = findBinary(settings.ffmpegPath);
    return (
      `${server}pocketsphinx at ${binary} transcribes US English (POST /v1/audio/transcriptions); ` +
      (ffmpeg
        ? 'wav, mp3, ogg, flac, webm, mp4/m4a'
        : 'only 16 kHz mono WAV — "sudo apt-get install ffmpeg" adds the rest')
    );
  } catch (err) {
    const without = server
      ? 'pocketsphinx NOT available'
      : 'transcription NOT available (POST /v1/audio/transcriptions answers 503)';
    return `${server}${without} — ${(err as Error).message}`;
  }
}
