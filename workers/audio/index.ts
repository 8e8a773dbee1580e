import type { AudioProviderName } from '../../common/agent-catalog.schema.js';
import type { Logger } from '../../common/logger.js';
import type { SpeechSettings } from '../speech/settings.js';
import type { TranscriptionSettings } from '../transcription/settings.js';
import { aptInstaller } from './apt-install.js';
import type { PackageInstaller } from './engine-install.js';
import { createEspeakNgProvider } from './espeak-ng/index.js';
import { createOpenAIAudioProvider, type OpenAIAudioSettings } from './openai/index.js';
import { createPocketsphinxProvider } from './pocketsphinx/index.js';
import type { AudioProvider } from './types.js';

export type { AudioProvider, SpeakRequest, SpokenAudio, TranscribeRequest, Transcript } from './types.js';

/** Settings every audio engine may read; each takes what it needs. */
export interface AudioProviderSettings {
  /** ESPEAK_NG_PATH, FFMPEG_PATH. */
  speech: SpeechSettings;
  /** POCKETSPHINX_PATH, POCKETSPHINX_MODEL_DIR, FFMPEG_PATH. */
  transcription: TranscriptionSettings;
  openai: OpenAIAudioSettings;
  /** Installs a missing engine's Debian package (apt-get; a fake in tests). */
  installer?: PackageInstaller;
}

// The registry: one entry per folder under audio/ (the same file names in each).
const factories = {
  'espeak-ng': (settings: AudioProviderSettings, log: Logger) =>
    createEspeakNgProvider(settings.speech, settings.installer ?? aptInstaller, log),
  pocketsphinx: (settings: AudioProviderSettings) => createPocketsphinxProvider(settings.transcription),
  openai: (settings: AudioProviderSettings) => createOpenAIAudioProvider(settings.openai),
} satisfies Record<AudioProviderName, (settings: AudioProviderSettings, log: Logger) => AudioProvider>;

/** Creates the audio engine called `name`. */
export function createAudioProvider(
  name: AudioProviderName,
  settings: AudioProviderSettings,
  log: Logger,
): AudioProvider {
  return factories[name](settings, log);
}
