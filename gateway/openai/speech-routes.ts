import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { ChatDeps } from '../chat/types.js';
import { admitBeforeBody } from '../http/admit-before-body.js';
import { callOriginOf, clientLeaving } from '../http/call-origin.js';
import { startSpeech } from '../speech/start-speech.js';
import { speechEvents } from '../speech/speech-sse.js';
import { collectSpeech } from '../speech/collect-speech.js';
import { perAgentSpeechRequestBodySchema, speechRequestBodySchema, type SpeechBody } from './speech-request.schema.js';

// Whitespace and the control characters espeak-ng is given as spaces (workers/speech/speakable-text.ts).
// eslint-disable-next-line no-control-regex
const NOTHING_TO_SAY = /^[\s\u0000-\u001f\u007f]*$/;

/** Fields OpenAI has that this slice does not honour: refused by name, never ignored. */
function refuseUnsupported(body: SpeechBody): void {
  if (NOTHING_TO_SAY.test(body.input))
    throw new AgentbusError(
      'invalid_request',
      '"input" has no text to speak (only whitespace or control characters).',
      {
        param: 'input',
      },
    );
  // Empty says nothing to honour (SDK wrappers send it so), as an empty transcription `prompt`.
  if ((body.instructions ?? '').trim() !== '')
    throw new AgentbusError('invalid_request', '"instructions" is not supported by the espeak-ng voices.', {
      param: 'instructions',
    });
}

/** `audio` as it comes, each chunk's size told to `counted` (module level: see call/call.ts's callFrames). */
async function* countedChunks(audio: AsyncIterable<Buffer>, counted: (bytes: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of audio) {
    counted(chunk.length);
    yield chunk;
  }
}

const clientLeft = () =>
  new AgentbusError('request_cancelled', 'The client closed the connection before the speech ended.');

/**
 * `POST /v1/audio/speech`: OpenAI's text to speech, spoken by a voice agent's worker over the
 * bus. Whole (with a Content-Length) by default; `stream_format: "audio"` sends each chunk as it
 * comes, `"sse"` as OpenAI's `speech.audio.delta` events. A client that leaves cancels the synthesis on the worker.
 */
export async function speechRoutes(app: FastifyInstance, deps: ChatDeps & { perAgent: boolean }) {
  const schema = { body: deps.perAgent ? perAgentSpeechRequestBodySchema : speechRequestBodySchema };
  // Rate limits first, before the body is read (admit-before-body.ts).
  app.addHook('preParsing', admitBeforeBody(deps));

  app.post<{ Body: SpeechBody }>('/v1/audio/speech', { schema }, async (request, reply) => {
    const { body } = request;
    refuseUnsupported(body);
    const left = clientLeaving(reply, clientLeft);
    const result = await startSpeech(
      deps,
      {
        model: body.model ?? request.pathAgent?.name ?? '',
        input: body.input,
        voice: body.voice,
        format: body.response_format ?? 'mp3',
        speed: body.speed ?? 1,
        streamed: body.stream_format != null,
      },
      await callOriginOf(request, reply),
      left,
    );
    reply.headers(result.headers).header('content-type', result.start.content_type);
    if (!body.stream_format) {
      let audio: Buffer;
      try {
        audio = await collectSpeech(result);
      } catch (err) {
        await result.finish({ bytes: 0, error: err });
        throw err;
      }
      await result.finish({ bytes: audio.length });
      return reply.send(audio);
    }
    let bytes = 0;
    const counted = (size: number) => (bytes += size);
    const stream =
      body.stream_format === 'sse'
        ? Readable.from(speechEvents(result.audio, body.input.length, counted))
        : Readable.from(countedChunks(result.audio, counted));
    if (body.stream_format === 'sse') reply.header('content-type', 'text/event-stream; charset=utf-8');
    const settle = (error?: unknown): void => {
      result
        .finish({ bytes, ...(error === undefined ? {} : { error }) })
        .catch((err: unknown) => request.log.warn({ err }, 'could not settle the speech request'));
    };
    stream.once('error', (err) => settle(err));
    stream.once('end', () => settle());
    stream.once('close', () => {
      if (!stream.readableEnded && !stream.errored) settle(clientLeft());
    });
    return reply.send(stream);
  });
}
