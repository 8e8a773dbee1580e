import type { FromSchema } from 'json-schema-to-ts';
import { AgentbusError, ID_PATTERN, samplingOptionsSchema, type DoneFrame } from '../../bus-schemas/index.js';
import type { ChatBody } from '../openai/chat-completion-request.schema.js';
import { isBase64 } from '../openai/normalize-messages.js';
import { rejectUnsupportedParameters } from '../openai/unsupported-parameters.js';
import { imageMediaType } from './image-media-type.js';
import { OLLAMA_FIELDS_NOT_HONOURED } from './ollama-unsupported.js';

const sampling = samplingOptionsSchema.properties;

/**
 * `POST /api/generate` body: Ollama's generate request, which the older agent clients spoke.
 * `model` names the agent (at the root; on `/agents/<agent>/api/generate` the path does).
 * As in Ollama, `stream` defaults to true (NDJSON lines).
 */
export const generateRequestSchema = {
  type: 'object',
  required: ['prompt'],
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 256 },
    prompt: { type: 'string', minLength: 1 },
    system: { type: 'string' },
    stream: { type: 'boolean' },
    session_id: { type: 'string', pattern: ID_PATTERN },
    // Not Ollama's: the chat routes' flag, honoured here too (false keeps nothing in memory).
    store: { type: ['boolean', 'null'] },
    // "" is Ollama's "no format", which its Python client sends by default.
    format: {
      anyOf: [{ enum: ['', 'json'] }, { type: 'object' }],
      description: '"json", a JSON Schema object, or "" for none',
    },
    images: { type: 'array', maxItems: 16, items: { type: 'string', minLength: 1 } },
    // Ollama's thinking switch: on/off, or a level for the models that take one (gpt-oss).
    think: {
      anyOf: [{ type: 'boolean' }, { enum: ['low', 'medium', 'high'] }],
      description: 'true, false, or "low", "medium", "high"',
    },
    options: {
      type: 'object',
      // Ollama has many more options (num_ctx, top_k, …); those agentbus does not map are
      // refused by name rather than dropped.
      additionalProperties: false,
      // The bus's own bounds, so the legacy route accepts exactly what the envelope carries.
      properties: {
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        // -1 is Ollama's own default, "no limit": the request sets no cap of its own. 0 is
        // refused in generateToChatBody, with a message naming both.
        num_predict: { ...sampling.max_tokens, minimum: -1 },
        stop: sampling.stop,
        seed: sampling.seed,
        presence_penalty: sampling.presence_penalty,
        frequency_penalty: sampling.frequency_penalty,
      },
    },
  },
} as const;

export type GenerateRequest = FromSchema<typeof generateRequestSchema>;

/**
 * The body without its `null` members, at the top and in `options`. Ollama reads a null as the
 * field left out, and LangChain's community `Ollama` class sends every field it has, unset ones
 * (`format`, `system`, `images`, `options.num_ctx`, `options.stop`, …) as null: they ask for
 * nothing, so they are dropped before the schema checks the body (an unmapped option is then
 * refused only when it holds a value).
 */
export function withoutNulls(body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const kept = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== null));
  const options: unknown = kept['options'];
  if (options !== null && typeof options === 'object' && !Array.isArray(options))
    kept['options'] = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== null));
  return kept;
}

/** The same request in OpenAI's terms, for the shared chat path. */
export function generateToChatBody(body: GenerateRequest): ChatBody {
  rejectUnsupportedParameters(body, OLLAMA_FIELDS_NOT_HONOURED);
  // Ollama's images are bare base64. Checked here, so a bad one is named as the client sent it
  // (`images[1]`), not as the data URL it would become (`messages[0].content[2].image_url.url`).
  body.images?.forEach((data, index) => {
    if (!isBase64(data))
      throw new AgentbusError(
        'invalid_request',
        `images[${index}] must be the image's bytes in base64, as Ollama takes them (no data: URL, no remote URL).`,
        { param: `images[${index}]` },
      );
  });
  const o = body.options ?? {};
  if (o.num_predict === 0)
    throw new AgentbusError('invalid_request', 'options.num_predict must be at least 1, or -1 for no limit.', {
      param: 'options.num_predict',
    });
  const userContent = body.images?.length
    ? [
        { type: 'text' as const, text: body.prompt },
        ...body.images.map((data) => ({
          type: 'image_url' as const,
          // Ollama's images say no type: an OpenAI-compatible upstream is told the one their bytes are.
          image_url: { url: `data:${imageMediaType(data)};base64,${data}` },
        })),
      ]
    : body.prompt;
  return {
    ...(body.model !== undefined ? { model: body.model } : {}),
    messages: [
      ...(body.system !== undefined ? [{ role: 'system' as const, content: body.system }] : []),
      { role: 'user' as const, content: userContent },
    ],
    ...(body.store === false ? { store: false } : {}),
    // The chat request's reasoning_effort is Ollama's think again on its way to the model
    // (toOllamaThink): true is on (gpt-oss at Ollama's own default level), false off.
    ...(body.think !== undefined
      ? { reasoning_effort: body.think === true ? 'medium' : body.think === false ? 'none' : body.think }
      : {}),
    ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    ...(o.top_p !== undefined ? { top_p: o.top_p } : {}),
    ...(o.num_predict !== undefined && o.num_predict !== -1 ? { max_tokens: o.num_predict } : {}),
    ...(o.stop !== undefined ? { stop: o.stop } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.presence_penalty !== undefined ? { presence_penalty: o.presence_penalty } : {}),
    ...(o.frequency_penalty !== undefined ? { frequency_penalty: o.frequency_penalty } : {}),
    ...(body.format === 'json' ? { response_format: { type: 'json_object' as const } } : {}),
    ...(typeof body.format === 'object'
      ? {
          response_format: {
            type: 'json_schema' as const,
            json_schema: { name: 'format', schema: body.format },
          },
        }
      : {}),
  };
}

/** A streamed line before the last: one piece of the answer, or of the thinking before it (`thinking`). */
export function generateChunk(model: string, text: string, thinking?: string) {
  return {
    model,
    created_at: new Date().toISOString(),
    response: text,
    ...(thinking ? { thinking } : {}),
    done: false,
  };
}

/**
 * The last line of a stream, or the whole answer without streaming (with `response`, and
 * `thinking` when the model thought).
 */
export function generateFinal(model: string, response: string, done: DoneFrame, thinking?: string) {
  const nanos = done.meta.processing_ms * 1_000_000;
  return {
    model,
    created_at: new Date().toISOString(),
    response,
    ...(thinking ? { thinking } : {}),
    done: true,
    done_reason: done.finish_reason,
    total_duration: nanos,
    load_duration: 0,
    prompt_eval_count: done.usage.prompt_tokens,
    eval_count: done.usage.completion_tokens,
    eval_duration: nanos,
    session_id: done.meta.conversation_id,
    cached: done.meta.cached,
    memory_used: done.meta.memory_used,
  };
}
