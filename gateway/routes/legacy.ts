import type { FastifyInstance } from 'fastify';
import { startChat, type ChatDeps } from '../chat/start-chat.js';
import { generateFinal, generateRequestSchema, generateToChatBody, type GenerateRequest } from '../legacy/generate.js';
import { relayAsNdjson } from '../legacy/ndjson-relay.js';
import { queryRequestSchema, queryResponse, queryToChatBody, type QueryRequest } from '../legacy/query.js';
import { collectAnswer } from '../openai/collect-answer.js';
import { checkTextLength } from '../openai/input-limits.js';
import { replyWithCompletion } from './chat-completions.js';

/**
 * The routes older clients of the replaced agents call, translated to a chat request and sent
 * down the same path as `/v1/chat/completions` (same auth, sessions, memory, cache, trace log).
 * At the root, `agent`/`model` in the body names the agent (404 model_not_found when it is
 * unknown, with the list of agents); without one, or with "auto", the router chooses.
 */
export async function legacyRoutes(app: FastifyInstance, deps: ChatDeps): Promise<void> {
  const limits = deps.config.inputLimits;
  app.post<{ Body: QueryRequest }>('/query', { schema: { body: queryRequestSchema } }, async (request, reply) => {
    // Checked here too, so the error names the legacy field rather than the message it becomes.
    checkTextLength(request.body.query, 'query', limits);
    checkTextLength(request.body.system, 'system', limits);
    const chat = await startChat(deps, request, reply, queryToChatBody(request.body), {
      pathAgent: request.pathAgent,
      stream: false,
      sessionId: request.body.session_id,
    });
    return replyWithCompletion(reply, chat, (answer) => queryResponse(chat.identity, answer));
  });

  app.post<{ Body: GenerateRequest }>(
    '/api/generate',
    { schema: { body: generateRequestSchema } },
    async (request, reply) => {
      checkTextLength(request.body.prompt, 'prompt', limits);
      checkTextLength(request.body.system, 'system', limits);
      const stream = request.body.stream !== false;
      const chat = await startChat(deps, request, reply, generateToChatBody(request.body), {
        pathAgent: request.pathAgent,
        stream,
        sessionId: request.body.session_id,
      });
      const model = request.body.model ?? chat.identity.model;
      if (stream)
        return relayAsNdjson(reply, chat.call, {
          model,
          sessionId: chat.sessionId,
          headers: chat.headers,
          stallTimeoutMs: deps.config.requestTimeoutMs,
        });
      return replyWithCompletion(reply, chat, (answer) => generateFinal(model, answer.content, answer.done));
    },
  );
}
