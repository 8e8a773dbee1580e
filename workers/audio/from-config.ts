import type { Logger } from '../../common/logger.js';
import { createRedactor, type Redactor } from '../../common/redaction.js';
import { OPENAI_DEFAULTS } from '../providers/index.js';
import { SPEECH_DEFAULTS } from '../speech/settings.js';
import { TRANSCRIPTION_DEFAULTS, type TranscriptionSettings } from '../transcription/settings.js';
import type { WorkerConfig } from '../config.js';
import type { AudioProviderName } from '../../common/agent-catalog.schema.js';
import { createAudioChains, type AudioChains } from './chains.js';
import { createAudioProvider, type AudioProvider, type AudioProviderSettings } from './index.js';

/** What each audio engine reads of the worker's configuration. */
export function audioProviderSettingsOf(config: WorkerConfig): AudioProviderSettings {
  const { speech, transcription, audio } = config;
  return { speech, transcription, openai: audio.openai };
}

/**
 * The worker's audio chains as its configuration describes them (SPEECH_PROVIDER,
 * TRANSCRIPTION_PROVIDER, LOCAL_AUDIO_PROVIDERS, BREAKER_*). `make` builds an engine by name;
 * by default from the registry.
 */
export function audioChainsFromConfig(
  config: WorkerConfig,
  redactor: Redactor,
  log: Logger,
  make?: (name: AudioProviderName) => AudioProvider,
): AudioChains {
  const settings = audioProviderSettingsOf(config);
  return createAudioChains(
    {
      createProvider: make ?? ((name) => createAudioProvider(name, settings, log)),
      defaultProvider: config.audio.speechProvider,
      defaultTranscriptionProvider: config.audio.transcriptionProvider,
      localProviders: config.audio.localAudioProviders,
      breakers: { failures: config.breakerFailures, cooldownMs: config.breakerCooldownMs },
      redactor,
    },
    log,
  );
}

/**
 * espeak-ng and pocketsphinx alone with the binaries on PATH, for a worker started without audio
 * settings (a test's side lane): what SPEECH_PROVIDER's and TRANSCRIPTION_PROVIDER's defaults give.
 */
export function defaultAudioChains(
  log: Logger,
  transcription: Readonly<TranscriptionSettings> = TRANSCRIPTION_DEFAULTS,
): AudioChains {
  const settings: AudioProviderSettings = { speech: SPEECH_DEFAULTS, transcription, openai: OPENAI_DEFAULTS };
  return createAudioChains(
    {
      createProvider: (name) => createAudioProvider(name, settings, log),
      defaultProvider: 'espeak-ng',
      defaultTranscriptionProvider: 'pocketsphinx',
      localProviders: ['espeak-ng', 'pocketsphinx'],
      breakers: { failures: 3, cooldownMs: 30_000 },
      redactor: createRedactor({ patterns: [] }),
    },
    log,
  );
}
