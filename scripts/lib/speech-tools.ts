import { SPEECH_FORMATS } from '../../bus-schemas/index.js';
import { findBinary } from '../../workers/speech/find-binary.js';
import type { AudioSettings } from '../../workers/audio/settings.js';
import type { SpeechSettings } from '../../workers/speech/settings.js';
import { ensureDebianTool } from './install-debian-package.js';

// Named from the bus schema's list, so a format added there is announced here too.
const ENCODED = SPEECH_FORMATS.filter((format) => format !== 'wav');
/** "mp3, opus, aac, flac or pcm": what ffmpeg adds to wav. */
const ENCODED_OR = `${ENCODED.slice(0, -1).join(', ')} or ${ENCODED.at(-1)}`;

/** espeak-ng, the engine of POST /v1/audio/speech, installing Debian's package when missing and we can. */
export function ensureEspeakNg(settings: SpeechSettings, say: (line: string) => void): string {
  return ensureDebianTool(
    {
      name: 'espeak-ng',
      debianPackage: 'espeak-ng',
      find: () => findBinary(settings.espeakPath),
      howToInstall:
        'Voice agents speak with it: install it ("sudo apt-get install espeak-ng" on Debian/Ubuntu) ' +
        'or set ESPEAK_NG_PATH to an espeak-ng binary.',
    },
    say,
  );
}

/** ffmpeg, the encoder of every speech format but wav, installing Debian's package when missing and we can. */
export function ensureFfmpeg(settings: SpeechSettings, say: (line: string) => void): string {
  return ensureDebianTool(
    {
      name: 'ffmpeg',
      debianPackage: 'ffmpeg',
      find: () => findBinary(settings.ffmpegPath),
      howToInstall:
        `Speech as ${ENCODED_OR} needs it: install it ("sudo apt-get install ffmpeg") ` +
        'or set FFMPEG_PATH; wav works without it.',
    },
    say,
  );
}

/**
 * What `npm start` says about voice: espeak-ng is installed on first use (as root); ffmpeg, a
 * large package, is only looked for (the worker installs it when a request needs it). The line
 * names what is missing and how to add it, and the audio server when SPEECH_PROVIDER is openai.
 */
export function voiceLine(settings: SpeechSettings, say: (line: string) => void, audio?: AudioSettings): string {
  const server =
    audio?.speechProvider === 'openai'
      ? `the OpenAI-compatible audio server at ${audio.openai.baseUrl} speaks (SPEECH_PROVIDER=openai); `
      : '';
  let espeak: string;
  try {
    espeak = ensureEspeakNg(settings, say);
  } catch (err) {
    const without = server ? 'espeak-ng NOT available' : 'NOT available (POST /v1/audio/speech answers 503)';
    return `${server}${without} — ${(err as Error).message}`;
  }
  const ffmpeg = findBinary(settings.ffmpegPath);
  return (
    `${server}espeak-ng at ${espeak} speaks (POST /v1/audio/speech, English and Bengali); ` +
    (ffmpeg
      ? `formats ${SPEECH_FORMATS.join(', ')} (ffmpeg at ${ffmpeg})`
      : process.getuid?.() === 0 && !settings.ffmpegPath.includes('/')
        ? `format wav now; the worker installs ffmpeg on the first ${ENCODED_OR} request`
        : `format wav only — "sudo apt-get install ffmpeg" adds ${ENCODED.join(', ')}`)
  );
}
