import type { FastifyInstance } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { ChatDeps } from '../chat/types.js';
import { admitBeforeBody } from '../http/admit-before-body.js';
import { sessionHeader, startHttpChat } from '../http/chat-request.js';
import { replyWithAnswer } from '../http/reply-with-answer.js';
import { outputItems, responseEcho, responseObject } from './responses-object.js';
import {
  perAgentResponsesRequestSchema,
  responsesRequestSchema,
  type ResponsesBody,
} from './responses-request.schema.js';
import { relayAsResponseEvents } from './responses-sse.js';
import { continuedField, sessionToContinueOf } from './conversation-to-continue.js';
import { checkedInputItems } from './duplicate-items.js';
import { CHAT_FIELDS_ON_RESPONSES, otherApiConversationFirst } from './other-api-fields.js';
import { inResponsesTerms, responsesToChatInput } from './responses-to-chat.js';
import { storedTurnReader } from './stored-turn-reader.js';

/**
 * `POST /v1/responses`: OpenAI's Responses API as a face of the chat pipeline. The body becomes
 * a chat input (responses-to-chat.ts), `previous_response_id` or `conversation` the session to
 * continue, and the answer's frames a `response` object or the Responses event stream.
 */
export async function responsesRoutes(app: FastifyInstance, deps: ChatDeps & { perAgent: boolean }): Promise<void> {
  const limits = deps.config.inputLimits;
  const schema = { body: deps.perAgent ? perAgentResponsesRequestSchema : responsesRequestSchema };

  // Rate limits first, before the body is read (admit-before-body.ts).
  app.addHook('preParsing', admitBeforeBody(deps));

  const preValidation = otherApiConversationFirst('input', CHAT_FIELDS_ON_RESPONSES);

  app.post<{ Body: ResponsesBody }>('/v1/responses', { schema, preValidation }, async (request, reply) => {
    // Checked before the items are read: a wrong kind of id is a 400, not a memory read.
    const continued = sessionToContinueOf(request.body);
    const body = await checkedInputItems(request.body, storedTurnReader(deps, request.tenant), limits.maxMessages);
    const stream = body.stream === true;
    // The output message has a `refusal` part for it.
    const input = responsesToChatInput(body, stream, limits);
    input.refusal_deltas = true;
    const echo = responseEcho(body);
    const header = sessionHeader(request);
    if (continued !== undefined && header !== undefined && header !== continued) {
      const param = continuedField(body);
      throw new AgentbusError(
        'invalid_request',
        // Both may name one conversation (its id, and a response of it): which to continue is the
        // client's to say, as the branch a previous_response_id replays is not the whole conversation.
        `X-Session-ID and ${param} each say what this response continues, and they differ; send one: ` +
          'previous_response_id continues from that response, conversation or X-Session-ID from the end of ' +
          'its conversation.',
        { param },
      );
    }
    // Errors from here on (the pipeline's, the worker's) name the Responses fields, not the chat ones.
    const terms = (err: unknown) => inResponsesTerms(err, body);
    try {
      const chat = await startHttpChat(deps, request, reply, input, { sessionId: continued });
      if (stream)
        return await relayAsResponseEvents(reply, chat.call, {
          ...chat.streamOptions(),
          identity: chat.identity,
          echo,
          terms,
        });
      return await replyWithAnswer(reply, chat, ({ done, ...answer }) => {
        const output = outputItems(chat.identity.id, { ...answer, finishReason: done.finish_reason });
        return responseObject(chat.identity, echo, output, { done });
      });
    } catch (err) {
      throw terms(err);
    }
  });
}
