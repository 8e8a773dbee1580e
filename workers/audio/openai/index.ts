import OpenAI from 'openai';
import { AgentbusError } from '../../../bus-schemas/index.js';
import { CONTENT_TYPES } from '../../speech/formats.js';
import type { AudioProvider, SpeakRequest, SpokenAudio, TranscribeRequest } from '../types.js';
import { openAIAudioError } from './errors.js';
import { transcribeWithOpenAI } from './transcribe.js';

export interface OpenAIAudioSettings {
  /** Base URL of the OpenAI-compatible audio API, including `/v1` (OPENAI_AUDIO_BASE_URL). */
  baseUrl: string;
  /** Bearer key (OPENAI_AUDIO_API_KEY); local servers take any. */
  apiKey: string | undefined;
}

/** The response body as Buffers, as the server sends it; errors say which server broke off. */
async function* bodyOf(response: Response, request: SpeakRequest, baseUrl: string): AsyncGenerator<Buffer> {
  if (!response.body)
    throw new AgentbusError('backend_error', `The audio server at ${baseUrl} answered without a body`);
  const reader = response.body.getReader();
  try {
    for (;;) {
      const read = await reader.read();
      if (read.done) return;
      if (read.value.length > 0) yield Buffer.from(read.value);
    }
  } catch (err) {
    throw request.signal.aborted ? request.signal.reason : openAIAudioError(err, baseUrl, request.model);
  } finally {
    // Left early (a cancel): the connection to the server closes too.
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * Any OpenAI-compatible audio server (OpenAI, speaches, kokoro-fastapi, another agentbus):
 * `POST {base}/audio/speech` with OpenAI's fields, its streamed body relayed as it comes, and
 * `POST {base}/audio/transcriptions` (transcribe.ts). The voice and the language go through by
 * name (the server knows its own); SDK retries are off, as for chat.
 */
export function createOpenAIAudioProvider(settings: OpenAIAudioSettings): AudioProvider {
  const { baseUrl } = settings;
  const client = new OpenAI({ baseURL: baseUrl, apiKey: settings.apiKey ?? 'unused', maxRetries: 0 });

  async function speak(request: SpeakRequest): Promise<SpokenAudio> {
    let response: Response;
    try {
      response = await client.audio.speech.create(
        {
          model: request.model,
          voice: request.voice,
          input: request.input,
          response_format: request.format,
          speed: request.speed,
        },
        { signal: request.signal },
      );
    } catch (err) {
      throw request.signal.aborted ? request.signal.reason : openAIAudioError(err, baseUrl, request.model);
    }
    return {
      voice: request.voice,
      contentType: CONTENT_TYPES[request.format],
      audio: bodyOf(response, request, baseUrl),
    };
  }

  const transcribe = (request: TranscribeRequest) => transcribeWithOpenAI(client, baseUrl, request);

  return Object.freeze({ name: 'openai', endpoint: baseUrl, speak, transcribe });
}
