import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ChatDeps } from '../chat/types.js';
import { admitBeforeBody } from '../http/admit-before-body.js';
import { startHttpChat, type HttpChat } from '../http/chat-request.js';
import { replyWithAnswer } from '../http/reply-with-answer.js';
import {
  chatCompletionRequestSchema,
  perAgentChatRequestSchema,
  type ChatBody,
} from './chat-completion-request.schema.js';
import { chatCompletion } from './responses.js';
import { relayAsSse } from './sse-relay.js';
import { toChatInput } from './to-chat-input.js';

/** Answers as OpenAI server-sent events. */
function replyWithSse(reply: FastifyReply, chat: HttpChat, deps: ChatDeps, body: ChatBody) {
  return relayAsSse(reply, chat.call, {
    identity: chat.identity,
    sessionId: chat.sessionId,
    includeUsage: body.stream_options?.include_usage === true,
    stallTimeoutMs: deps.config.requestTimeoutMs,
    headers: chat.headers,
    revoked: chat.revoked,
  });
}

/**
 * `POST /v1/chat/completions` (JSON or SSE, as `stream` says) and `POST /v1/chat/stream`
 * (always SSE, for the clients of the agents agentbus replaces). Registered at the root, where
 * the body's `model` names the agent, and under `/agents/:agent`, where the path does.
 */
export async function chatCompletionsRoutes(app: FastifyInstance, deps: ChatDeps & { perAgent: boolean }) {
  const schema = { body: deps.perAgent ? perAgentChatRequestSchema : chatCompletionRequestSchema };
  const limits = deps.config.inputLimits;
  // Rate limits first, before the body is read (admit-before-body.ts).
  app.addHook('preParsing', admitBeforeBody(deps));

  app.post<{ Body: ChatBody }>('/v1/chat/completions', { schema }, async (request, reply) => {
    const stream = request.body.stream === true;
    const chat = await startHttpChat(deps, request, reply, toChatInput(request.body, stream, limits));
    if (stream) return replyWithSse(reply, chat, deps, request.body);
    return replyWithAnswer(reply, chat, (answer) => chatCompletion(chat.identity, answer));
  });

  app.post<{ Body: ChatBody }>('/v1/chat/stream', { schema }, async (request, reply) => {
    const chat = await startHttpChat(deps, request, reply, toChatInput(request.body, true, limits));
    return replyWithSse(reply, chat, deps, request.body);
  });
}
