import { randomBytes } from 'node:crypto';
import { AgentbusError, ID_PATTERN, PROTOCOL_VERSION, type Subjects } from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';
import { queryStoredResponse } from '../bus/response-query.js';
import { AUDIO_ID_PREFIX } from './chat-audio.js';
import type { ChatBody } from './chat-completion-request.schema.js';

// One indexed read on a worker, as for GET /v1/responses/{id}.
const QUERY_TIMEOUT_MS = 5_000;
const ID = new RegExp(ID_PATTERN);

type Message = ChatBody['messages'][number];

const isEmpty = (content: Message['content']) =>
  content == null || content === '' || (Array.isArray(content) && content.length === 0);

/**
 * OpenAI lets a client send a spoken answer back as history by its audio id alone
 * (`{"role": "assistant", "audio": {"id": …}}`). Memory keeps the transcript, not the audio: an
 * assistant message with an audio id and no content gets the transcript of the stored turn it
 * names (read by a worker over the bus, the caller's own turns only). An id that names no stored
 * turn of this key is a 400 naming it. A message with content keeps its content.
 */
export async function withSpokenTranscripts(
  deps: { bus: Bus; subjects: Subjects },
  tenant: string,
  messages: ChatBody['messages'],
): Promise<ChatBody['messages']> {
  if (!messages.some((m) => m.role === 'assistant' && m.audio != null && isEmpty(m.content))) return messages;
  return Promise.all(
    messages.map(async (message, index) => {
      if (message.role !== 'assistant' || message.audio == null || !isEmpty(message.content)) return message;
      const { id } = message.audio;
      const param = `messages[${index}].audio.id`;
      const unknown = new AgentbusError(
        'invalid_request',
        `${param}: no spoken answer "${id.slice(0, 128)}" is stored for this API key (unknown, not stored, or ` +
          'deleted); send its transcript as content instead.',
        { param },
      );
      const responseId = id.startsWith(AUDIO_ID_PREFIX) ? id.slice(AUDIO_ID_PREFIX.length) : '';
      if (!ID.test(responseId)) throw unknown;
      try {
        const reply = await queryStoredResponse(
          deps.bus,
          {
            v: PROTOCOL_VERSION,
            request_id: `memq-${randomBytes(12).toString('base64url')}`,
            tenant,
            response_id: responseId,
            op: 'get',
          },
          { subject: deps.subjects.memoryResponse, timeoutMs: QUERY_TIMEOUT_MS },
        );
        if (reply.type !== 'turn') throw unknown;
        return { ...message, content: reply.turn.assistant_response };
      } catch (err) {
        if (err instanceof AgentbusError && err.code === 'response_not_found') throw unknown;
        throw err;
      }
    }),
  );
}
