import {
  AUDIO_PROVIDER_NAMES,
  SPEECH_PROVIDER_NAMES,
  TRANSCRIPTION_PROVIDER_NAMES,
  type AudioProviderName,
} from '../../common/agent-catalog.schema.js';
import type { EnvReader } from '../../common/env.js';
import type { OpenAISettings } from '../providers/openai/index.js';
import type { OpenAIAudioSettings } from './openai/index.js';

/** How a worker's voice agents reach their audio engines. */
export interface AudioSettings {
  /** SPEECH_PROVIDER: the chain of a voice agent whose `speech` lists no `providers`. */
  speechProvider: AudioProviderName;
  /** TRANSCRIPTION_PROVIDER: the chain of a voice agent whose `transcription` lists no `providers`. */
  transcriptionProvider: AudioProviderName;
  /** LOCAL_AUDIO_PROVIDERS: the only engines a private request may use. */
  localAudioProviders: readonly AudioProviderName[];
  /** The `openai` engine's server. */
  openai: Readonly<OpenAIAudioSettings>;
}

/**
 * SPEECH_PROVIDER, TRANSCRIPTION_PROVIDER, LOCAL_AUDIO_PROVIDERS, OPENAI_AUDIO_BASE_URL and OPENAI_AUDIO_API_KEY. The
 * audio server is the chat one unless set; the chat key goes along only to that same server.
 */
export function readAudioSettings(read: EnvReader, chat: OpenAISettings): Readonly<AudioSettings> {
  const baseUrl = read.url('OPENAI_AUDIO_BASE_URL', chat.baseUrl, {
    protocols: ['http:', 'https:'],
    doc: '`openai` audio engine: the OpenAI-compatible audio API (OpenAI, speaches, kokoro-fastapi), with `/v1`',
    shownDefault: '`OPENAI_BASE_URL`',
  });
  const ownKey = read.optionalString('OPENAI_AUDIO_API_KEY', {
    doc: '`openai` audio engine: its bearer key; unset → `OPENAI_API_KEY`, only when the audio server is the chat one',
  });
  return Object.freeze({
    speechProvider: read.oneOf('SPEECH_PROVIDER', 'espeak-ng', {
      allowed: SPEECH_PROVIDER_NAMES,
      doc: 'audio engine of voice agents whose catalog `speech` lists no `providers` chain',
    }),
    transcriptionProvider: read.oneOf('TRANSCRIPTION_PROVIDER', 'pocketsphinx', {
      allowed: TRANSCRIPTION_PROVIDER_NAMES,
      doc: 'transcription engine of voice agents whose catalog `transcription` lists no `providers` chain',
    }),
    localAudioProviders: Object.freeze(
      read.listOf('LOCAL_AUDIO_PROVIDERS', ['espeak-ng', 'pocketsphinx'], {
        allowed: AUDIO_PROVIDER_NAMES,
        doc:
          'audio engines that keep requests on this machine: the only ones a private speech or transcription ' +
          'request may use',
      }),
    ),
    openai: Object.freeze({ baseUrl, apiKey: ownKey ?? (baseUrl === chat.baseUrl ? chat.apiKey : undefined) }),
  });
}
