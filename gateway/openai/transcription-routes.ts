import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { ChatDeps } from '../chat/types.js';
import { admitBeforeBody } from '../http/admit-before-body.js';
import { callOriginOf, clientLeaving } from '../http/call-origin.js';
import { bodyMissing } from '../http/errors.js';
import { registerMultipartForm } from '../http/multipart-form.js';
import { refuseOversizedForm } from '../http/refuse-oversized-form.js';
import { renderTranscript } from '../transcription/render.js';
import { startTranscription } from '../transcription/start-transcription.js';
import { transcriptEvents } from '../transcription/transcript-events.js';
import {
  perAgentTranscriptionRequestBodySchema,
  perAgentTranslationRequestBodySchema,
  transcriptionRequestBodySchema,
  translationRequestBodySchema,
  type TranscriptionBody,
} from './transcription-request.schema.js';

const refuse = (param: string, message: string) => new AgentbusError('invalid_request', message, { param });

/** OpenAI's fields the engine cannot honour: refused by name, never ignored. */
function refuseUnsupported(body: TranscriptionBody): void {
  if (body.prompt !== undefined && body.prompt.trim() !== '')
    throw refuse('prompt', '"prompt" is not supported: pocketsphinx decodes with a fixed language model.');
  if (body['include[]'] !== undefined || body.include !== undefined)
    throw refuse('include', '"include" is not supported: pocketsphinx gives no log-probabilities.');
  if (Object.keys(body).some((field) => field === 'chunking_strategy' || field.startsWith('chunking_strategy[')))
    throw refuse('chunking_strategy', '"chunking_strategy" is not supported: the audio is heard as one stream.');
}

const DECIMAL = /^\s*[0-9.eE+-]+\s*$/;

/** `temperature` (0–1 in OpenAI's reference): checked, then unused, since pocketsphinx's decoding has none. */
function checkTemperature(value: string | undefined): void {
  if (value === undefined) return;
  // A decimal number: Number() alone takes "", "0x1" and "Infinity" too.
  const temperature = DECIMAL.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(temperature) || temperature < 0 || temperature > 1)
    throw refuse('temperature', `temperature must be a number from 0 to 1, not "${value}".`);
}

/** Whether to answer OpenAI's event stream (`stream`, "true" or "false" in a form), which carries text only. */
function wantsEvents(body: TranscriptionBody): boolean {
  if (body.stream === undefined || body.stream === 'false') return false;
  if (body.stream !== 'true') throw refuse('stream', `stream must be "true" or "false", not "${body.stream}".`);
  if (body.response_format !== undefined && body.response_format !== 'json' && body.response_format !== 'text')
    throw refuse('stream', 'stream needs response_format "json" or "text": its events carry the text only.');
  return true;
}

/** Whether verbose_json should list words: `timestamp_granularities[]` names `word`. */
function wantsWords(body: TranscriptionBody): boolean {
  const named = [body['timestamp_granularities[]'], body.timestamp_granularities].flat();
  const words = named.includes('word');
  if ((words || named.includes('segment')) && body.response_format !== 'verbose_json')
    throw refuse('timestamp_granularities', 'timestamp_granularities needs response_format "verbose_json".');
  return words;
}

// busboy reports a malformed form with plain Errors (no code, no status): named here, they are the
// client's 400, not an internal error.
const MALFORMED_FORM = /(unexpected end of multipart data|Malformed part header|Multipart: Boundary not found)/i;
function formError(err: Error, body: unknown): Error {
  if (err instanceof AgentbusError) return err;
  // fastify's own message for another content type (or none) would ask for JSON; this route takes a form.
  if ((err as { code?: string }).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || bodyMissing(err, body))
    return new AgentbusError(
      'unsupported_media_type',
      'Send the upload as multipart/form-data, with the audio in "file".',
    );
  // busboy's own limit (its search needle, 256 bytes), well beyond RFC 2046's 70 characters.
  if (/needle cannot have a length bigger/.test(err.message))
    return new AgentbusError(
      'invalid_request',
      'The multipart boundary is too long to read; RFC 2046 allows at most 70 characters.',
      { param: 'Content-Type' },
    );
  if (!MALFORMED_FORM.test(err.message)) return err;
  return new AgentbusError('invalid_request', `The multipart/form-data body is malformed: ${err.message}.`, {
    param: 'file',
  });
}

const clientLeft = () =>
  new AgentbusError('request_cancelled', 'The client closed the connection before the transcript was ready.');

/** One transcription or translation: checked, heard by a worker, rendered as the client asked. */
async function answerTranscription(
  deps: ChatDeps,
  request: FastifyRequest<{ Body: TranscriptionBody }>,
  reply: FastifyReply,
  translate: boolean,
) {
  const { body } = request;
  if (!Buffer.isBuffer(body.file))
    throw new AgentbusError('audio_file_invalid', '"file" must be a file upload (multipart/form-data).', {
      param: 'file',
    });
  refuseUnsupported(body);
  checkTemperature(body.temperature);
  const withWords = wantsWords(body);
  const events = wantsEvents(body);
  const left = clientLeaving(reply, clientLeft);
  const model = body.model ?? request.pathAgent?.name ?? '';
  const result = await startTranscription(
    deps,
    { model, file: body.file, language: body.language, translate },
    await callOriginOf(request, reply),
    left,
  );
  // Once heard: a failure before is a plain JSON error, the stream never started.
  if (events)
    return reply
      .headers(result.headers)
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(transcriptEvents(result.done));
  const rendered = renderTranscript(result.done, body.response_format ?? 'json', withWords, translate);
  return reply.headers(result.headers).header('content-type', rendered.contentType).send(rendered.body);
}

/** More than 16 fields of 64 KiB and 20 parts' headers of 80 KiB (busboy's limit) can take. */
const FORM_MARGIN_BYTES = 4 * 1024 * 1024;

/**
 * `POST /v1/audio/transcriptions` and `/v1/audio/translations`: OpenAI's speech to text (English
 * text, for translations), heard by a voice agent's worker over the bus. The upload is read whole
 * (at most MAX_AUDIO_UPLOAD_BYTES, 413 above) and checked to be audio before anything is published.
 */
export async function transcriptionRoutes(app: FastifyInstance, deps: ChatDeps & { perAgent: boolean }) {
  await registerMultipartForm(app, deps.config.requestReceiveTimeoutMs, {
    fileSize: deps.config.maxAudioUploadBytes,
    files: 1,
    fields: 16,
    fieldSize: 64 * 1024,
    parts: 20,
  });
  // Throwing from here hands the (renamed) error to the app's own error handler.
  app.setErrorHandler((err: Error, request) => {
    throw formError(err, request.body);
  });
  const schema = {
    body: deps.perAgent ? perAgentTranscriptionRequestBodySchema : transcriptionRequestBodySchema,
  };
  // Rate limits first, before the upload is read: a request token and a concurrency slot (audio
  // is not text, so not the byte budget), so a flood of big uploads costs at most the key's tier.
  app.addHook('preParsing', admitBeforeBody(deps, { bodyBytes: false }));
  // A body longer than any form with a file within the limit is refused unread (declared) or once past
  // that length (chunked); FORM_MARGIN_BYTES holds the form's other parts at their limits.
  const largestForm = deps.config.maxAudioUploadBytes + FORM_MARGIN_BYTES;
  app.addHook(
    'preParsing',
    refuseOversizedForm(largestForm, () => new AgentbusError('audio_file_too_large')),
  );

  app.post<{ Body: TranscriptionBody }>('/v1/audio/transcriptions', { schema }, (request, reply) =>
    answerTranscription(deps, request, reply, false),
  );
  const translationSchema = {
    body: deps.perAgent ? perAgentTranslationRequestBodySchema : translationRequestBodySchema,
  };
  app.post<{ Body: TranscriptionBody }>('/v1/audio/translations', { schema: translationSchema }, (request, reply) =>
    answerTranscription(deps, request, reply, true),
  );
}
