import type OpenAI from 'openai';
import { toFile } from 'openai';
import { AgentbusError } from '../../../bus-schemas/index.js';
import type { TranscribeRequest, Transcript } from '../types.js';
import { openAIAudioError } from './errors.js';

const MIME_TYPES = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  flac: 'audio/flac',
  webm: 'audio/webm',
  mp4: 'audio/mp4',
};

const seconds = (value: unknown): number => (typeof value === 'number' && value > 0 ? value : 0);
const textOf = (value: unknown): string => (typeof value === 'string' ? value.trim() : '');

/**
 * OpenAI's `verbose_json` as our transcript. Servers differ in what they fill (faster-whisper
 * servers leave out words unless asked, some leave out the duration), so only `text` is required;
 * segment texts lose Whisper's leading space.
 */
export function transcriptOf(body: unknown, request: TranscribeRequest, baseUrl: string): Transcript {
  const answer = body as Record<string, unknown> | null;
  if (typeof answer !== 'object' || answer === null || typeof answer['text'] !== 'string')
    throw new AgentbusError('backend_error', `The audio server at ${baseUrl} answered a transcription without "text"`);
  const list = (value: unknown) => (Array.isArray(value) ? (value as Array<Record<string, unknown>>) : []);
  const segments = list(answer['segments']).map((s) => ({
    start: seconds(s['start']),
    end: seconds(s['end']),
    text: textOf(s['text']),
  }));
  const words = list(answer['words']).map((w) => ({
    word: textOf(w['word']),
    start: seconds(w['start']),
    end: seconds(w['end']),
  }));
  const language = typeof answer['language'] === 'string' && answer['language'] ? answer['language'] : undefined;
  return {
    text: answer['text'].trim(),
    // Whisper names the language it heard ("english"); the client's own code wins when it gave one.
    language: request.language ?? language ?? 'unknown',
    duration: seconds(answer['duration']) || (segments.at(-1)?.end ?? 0),
    segments,
    words,
  };
}

/** The server's verbose_json: of `/audio/translations` (English text; segments, no words) or of transcriptions. */
async function askServer(client: OpenAI, request: TranscribeRequest): Promise<unknown> {
  const file = await toFile(request.audio, `audio.${request.format}`, { type: MIME_TYPES[request.format] });
  const options = { signal: request.signal };
  if (request.translate)
    return client.audio.translations.create({ file, model: request.model, response_format: 'verbose_json' }, options);
  return client.audio.transcriptions.create(
    {
      file,
      model: request.model,
      response_format: 'verbose_json',
      timestamp_granularities: ['segment', 'word'],
      ...(request.language === undefined ? {} : { language: request.language }),
    },
    options,
  );
}

/**
 * `POST {base}/audio/transcriptions` (or `/audio/translations`), multipart with the upload as it
 * came (the server converts what it needs), `response_format=verbose_json` so segments and their
 * times come back.
 */
export async function transcribeWithOpenAI(
  client: OpenAI,
  baseUrl: string,
  request: TranscribeRequest,
): Promise<Transcript> {
  let body: unknown;
  try {
    body = await askServer(client, request);
  } catch (err) {
    throw request.signal.aborted
      ? request.signal.reason
      : openAIAudioError(err, baseUrl, request.model, 'transcription');
  }
  return transcriptOf(body, request, baseUrl);
}
