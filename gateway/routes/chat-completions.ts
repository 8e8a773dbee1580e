import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ChatDeps, ChatBody, StartedChat } from '../chat/start-chat.js';
import { startChat } from '../chat/start-chat.js';
import { chatCompletionRequestSchema, perAgentChatRequestSchema } from '../openai/chat-completion-request.schema.js';
import { collectAnswer } from '../openai/collect-answer.js';
import { chatCompletion, type CollectedAnswer } from '../openai/responses.js';
import { relayAsSse } from '../openai/sse-relay.js';

/**
 * Answers with one JSON body, by default a `chat.completion` (legacy routes pass their own
 * `format`). A client that disconnects first cancels the answer (nothing is stored) and gets
 * nothing: there is nobody left to send an error to.
 */
export async function replyWithCompletion(
  reply: FastifyReply,
  chat: StartedChat,
  format: (answer: CollectedAnswer) => object = (answer) => chatCompletion(chat.identity, answer),
) {
  const { call } = chat;
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) call.close('client closed the connection');
  });
  try {
    const answer = await collectAnswer(call);
    reply.header('x-session-id', answer.done.meta.conversation_id);
    reply.header('x-cache', answer.done.meta.cached ? 'HIT' : 'MISS');
    return format(answer);
  } catch (err) {
    if (!call.closedByClient) throw err;
    reply.log.info('client left before the answer finished; the worker was told to cancel it');
    reply.hijack();
    return undefined;
  }
}

/** Answers as OpenAI server-sent events. */
export function replyWithSse(reply: FastifyReply, chat: StartedChat, deps: ChatDeps, body: ChatBody) {
  return relayAsSse(reply, chat.call, {
    identity: chat.identity,
    sessionId: chat.sessionId,
    includeUsage: body.stream_options?.include_usage === true,
    stallTimeoutMs: deps.config.requestTimeoutMs,
    headers: chat.headers,
  });
}

/**
 * `POST /v1/chat/completions` (JSON or SSE, as `stream` says) and `POST /v1/chat/stream`
 * (always SSE, for the clients of the agents agentbus replaces). Registered at the root, where
 * the body's `model` names the agent, and under `/agents/:agent`, where the path does.
 */
export async function chatCompletionsRoutes(
  app: FastifyInstance,
  deps: ChatDeps & { perAgent: boolean },
): Promise<void> {
  const schema = { body: deps.perAgent ? perAgentChatRequestSchema : chatCompletionRequestSchema };

  app.post<{ Body: ChatBody }>('/v1/chat/completions', { schema }, async (request, reply) => {
    const stream = request.body.stream === true;
    const chat = await startChat(deps, request, reply, request.body, { pathAgent: request.pathAgent, stream });
    return stream ? replyWithSse(reply, chat, deps, request.body) : replyWithCompletion(reply, chat);
  });

  app.post<{ Body: ChatBody }>('/v1/chat/stream', { schema }, async (request, reply) => {
    const chat = await startChat(deps, request, reply, request.body, { pathAgent: request.pathAgent, stream: true });
    return replyWithSse(reply, chat, deps, request.body);
  });
}
