import type { FastifyInstance } from 'fastify';
import type { ChatDeps } from '../chat/types.js';
import { admitBeforeBody } from '../http/admit-before-body.js';
import { startHttpChat } from '../http/chat-request.js';
import { replyWithAnswer } from '../http/reply-with-answer.js';
import { toChatInput } from '../openai/to-chat-input.js';
import {
  generateFinal,
  generateRequestSchema,
  generateToChatBody,
  withoutNulls,
  type GenerateRequest,
} from './generate.js';
import { namingBodyAgent, namingBodySession } from './body-session.js';
import { relayAsNdjson } from './ndjson-relay.js';
import {
  queryConversationFirst,
  queryRequestSchema,
  queryResponse,
  queryToChatBody,
  refuseFieldsOfOtherRoutes,
  type QueryRequest,
} from './query.js';
import { checkTextLength } from '../openai/input-limits.js';
import { inPromptTerms } from '../openai/completion-to-chat-input.js';

/**
 * The routes older clients of the replaced agents call, translated to a chat request and sent
 * down the same path as `/v1/chat/completions` (same auth, sessions, memory, cache, trace log).
 * At the root, `agent`/`model` in the body names the agent (404 model_not_found when it is
 * unknown, with the list of agents); without one, or with "auto", the router chooses.
 */
export async function legacyRoutes(app: FastifyInstance, deps: ChatDeps): Promise<void> {
  const limits = deps.config.inputLimits;
  // Rate limits first, before the body is read (admit-before-body.ts).
  app.addHook('preParsing', admitBeforeBody(deps));
  const queryRoute = { schema: { body: queryRequestSchema }, preValidation: queryConversationFirst };
  app.post<{ Body: QueryRequest }>('/query', queryRoute, async (request, reply) => {
    // Checked here too, so the error names the legacy field rather than the message it becomes.
    checkTextLength(request.body.query, 'query', limits);
    checkTextLength(request.body.system, 'system', limits);
    // Before the chat input, whose errors name `messages` as the query: these name the client's field.
    refuseFieldsOfOtherRoutes(request.body);
    try {
      const input = toChatInput(queryToChatBody(request.body, request.pathAgent !== undefined), false, limits);
      const chat = await startHttpChat(deps, request, reply, input, { sessionId: request.body.session_id });
      return await replyWithAnswer(reply, chat, (answer) => queryResponse(chat.identity, answer));
    } catch (err) {
      // The worker's words name the chat request's messages; the client sent a query.
      const terms = { text: 'query', userIndex: request.body.system !== undefined ? 1 : 0 } as const;
      throw namingBodyAgent(namingBodySession(inPromptTerms(err, terms), request), request.body);
    }
  });

  app.post<{ Body: GenerateRequest }>(
    '/api/generate',
    {
      schema: { body: generateRequestSchema },
      // Ollama reads a null as a field left out; the schema then sees what the client asked for.
      preValidation: async (request) => {
        request.body = withoutNulls(request.body) as GenerateRequest;
      },
    },
    async (request, reply) => {
      checkTextLength(request.body.prompt, 'prompt', limits);
      checkTextLength(request.body.system, 'system', limits);
      const stream = request.body.stream !== false;
      // The worker's words name the chat request's fields; the client sent Ollama's.
      const terms = {
        text: 'prompt',
        userIndex: request.body.system !== undefined ? 1 : 0,
        maxTokens: 'options.num_predict',
        responseFormat: 'format',
        reasoningEffort: 'think',
        ...(request.body.images?.length ? { images: 'images' } : {}),
      } as const;
      try {
        const input = toChatInput(generateToChatBody(request.body), stream, limits);
        const chat = await startHttpChat(deps, request, reply, input, { sessionId: request.body.session_id });
        const model = request.body.model ?? chat.identity.model;
        if (stream) return await relayAsNdjson(reply, chat.call, { ...chat.streamOptions(), model, terms });
        return await replyWithAnswer(reply, chat, (answer) =>
          generateFinal(model, answer.content, answer.done, answer.reasoning),
        );
      } catch (err) {
        throw namingBodySession(inPromptTerms(err, terms), request);
      }
    },
  );
}
