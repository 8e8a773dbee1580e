import { admitBeforeBody } from '../http/admit-before-body.js';
import type { FastifyInstance } from 'fastify';
import type { ChatDeps } from '../chat/types.js';
import { startHttpChat } from '../http/chat-request.js';
import { replyWithAnswer } from '../http/reply-with-answer.js';
import {
  completionRequestSchema,
  perAgentCompletionRequestSchema,
  type CompletionBody,
} from './completion-request.schema.js';
import { textCompletion } from './completion-responses.js';
import { relayCompletionAsSse } from './completion-sse-relay.js';
import { completionToChatInput, inCompletionTerms } from './completion-to-chat-input.js';
import { CHAT_FIELDS_ON_COMPLETIONS, otherApiConversationFirst } from './other-api-fields.js';

/**
 * `POST /v1/completions` (OpenAI's legacy text completions): a new face on the chat pipeline, so
 * keys, scopes, rate limits, sessions, cache, memory and the trace log are the chat route's.
 */
export async function completionsRoutes(app: FastifyInstance, deps: ChatDeps & { perAgent: boolean }) {
  const schema = { body: deps.perAgent ? perAgentCompletionRequestSchema : completionRequestSchema };
  const limits = deps.config.inputLimits;
  // As on the chat routes: the key's limits are decided before the body is read.
  app.addHook('preParsing', admitBeforeBody(deps));

  const preValidation = otherApiConversationFirst('prompt', CHAT_FIELDS_ON_COMPLETIONS);

  app.post<{ Body: CompletionBody }>('/v1/completions', { schema, preValidation }, async (request, reply) => {
    const stream = request.body.stream === true;
    const input = completionToChatInput(request.body, stream, limits);
    // Errors from here on (the pipeline's, the worker's) name `prompt`, not the chat message.
    try {
      const chat = await startHttpChat(deps, request, reply, input);
      if (!stream) return await replyWithAnswer(reply, chat, (answer) => textCompletion(chat.identity, answer));
      return await relayCompletionAsSse(reply, chat.call, {
        ...chat.streamOptions(),
        identity: chat.identity,
        includeUsage: request.body.stream_options?.include_usage === true,
      });
    } catch (err) {
      throw inCompletionTerms(err);
    }
  });
}
