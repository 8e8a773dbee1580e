import type { FromSchema } from 'json-schema-to-ts';
import { AgentbusError, ID_PATTERN, samplingOptionsSchema } from '../../bus-schemas/index.js';
import type { ChatBody } from '../openai/chat-completion-request.schema.js';
import { formatProcessingTime, type CollectedAnswer, type CompletionIdentity } from '../openai/responses.js';
import { agentOf } from '../chat/agent-of.js';
import { OTHER_FIELDS_ON_QUERY, otherApiConversationFirst } from '../openai/other-api-fields.js';
import { rejectUnsupportedParameters } from '../openai/unsupported-parameters.js';
import { OLLAMA_FIELDS_NOT_HONOURED } from './ollama-unsupported.js';

/**
 * `POST /query` body, the request of the per-agent services agentbus replaces: one question,
 * optionally continuing a session. `agent` (or `model`) picks the agent at the root; on
 * `/agents/<agent>/query` the path does.
 */
export const queryRequestSchema = {
  type: 'object',
  required: ['query'],
  properties: {
    query: { type: 'string', minLength: 1 },
    agent: { type: 'string', minLength: 1, maxLength: 256 },
    model: { type: 'string', minLength: 1, maxLength: 256 },
    session_id: { type: 'string', pattern: ID_PATTERN },
    system: { type: 'string' },
    temperature: samplingOptionsSchema.properties.temperature,
    max_tokens: samplingOptionsSchema.properties.max_tokens,
    // null reads as left out, as on /api/generate and the WebSocket frames.
    stream: { type: ['boolean', 'null'] },
    // As on the chat routes: false keeps nothing in memory (and cannot continue a session).
    store: { type: ['boolean', 'null'] },
  },
} as const;

export type QueryRequest = FromSchema<typeof queryRequestSchema>;

/**
 * The schema lets unknown fields through: what the chat routes or `/api/generate` would honour
 * and `/query` would drop (images, a format, tools, n > 1, …), and the Ollama fields no route
 * honours (`context`, `raw`, …), is a 400 naming the field.
 */
export function refuseFieldsOfOtherRoutes(body: QueryRequest): void {
  rejectUnsupportedParameters(body);
  rejectUnsupportedParameters(body, OTHER_FIELDS_ON_QUERY);
  rejectUnsupportedParameters(body, OLLAMA_FIELDS_NOT_HONOURED);
}

/** The route's preValidation: a conversation sent in another route's field is named, not "query is required". */
export const queryConversationFirst = otherApiConversationFirst('query', OTHER_FIELDS_ON_QUERY);

/**
 * The same request in OpenAI's terms, for the shared chat path. At the root `agent` and `model`
 * must agree; on `/agents/<agent>/query` (`pathNamesAgent`) the path wins, so the body's pair is
 * only a hint and is not refused.
 */
export function queryToChatBody(body: QueryRequest, pathNamesAgent = false): ChatBody {
  if (body.stream === true)
    throw new AgentbusError(
      'invalid_request',
      '/query answers with one JSON object; stream with POST /v1/chat/stream (or /api/generate).',
      { param: 'stream' },
    );
  const model = pathNamesAgent ? (body.agent ?? body.model) : agentOf(body);
  return {
    ...(model !== undefined ? { model } : {}),
    messages: [
      ...(body.system !== undefined ? [{ role: 'system' as const, content: body.system }] : []),
      { role: 'user' as const, content: body.query },
    ],
    ...(body.store === false ? { store: false } : {}),
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    ...(body.max_tokens !== undefined ? { max_tokens: body.max_tokens } : {}),
  };
}

/** The `/query` answer: the response text (and the thinking, when the model thought) and the session to continue. */
export function queryResponse(identity: CompletionIdentity, { content, reasoning, done }: CollectedAnswer) {
  return {
    response: content,
    ...(reasoning ? { thinking: reasoning } : {}),
    session_id: done.meta.conversation_id,
    request_id: identity.id,
    agent: done.meta.agent,
    model: done.meta.model,
    finish_reason: done.finish_reason,
    cached: done.meta.cached,
    memory_used: done.meta.memory_used,
    processing_time: formatProcessingTime(done.meta.processing_ms),
    usage: done.usage,
    timestamp: new Date().toISOString(),
  };
}
