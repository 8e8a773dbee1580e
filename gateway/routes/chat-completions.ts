import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { AgentbusError, ID_PATTERN, TRACEPARENT_PATTERN, type Subjects } from '../../bus-schemas/index.js';
import type { Catalog } from '../../common/catalog.js';
import { callAgent } from '../bus/agent-call.js';
import type { GatewayConfig } from '../config.js';
import { chatCompletionRequestSchema, type ChatCompletionRequest } from '../openai/chat-completion-request.schema.js';
import { collectCompletion } from '../openai/collect-completion.js';
import { relayAsSse } from '../openai/sse-relay.js';
import { toEnvelope } from '../openai/to-envelope.js';
import { rejectUnsupportedParameters } from '../openai/unsupported-parameters.js';

export interface ChatCompletionsDeps {
  nc: NatsConnection;
  catalog: Catalog;
  subjects: Subjects;
  config: GatewayConfig;
}

const SESSION_ID = new RegExp(ID_PATTERN);
const TRACEPARENT = new RegExp(TRACEPARENT_PATTERN);
const randomId = (bytes: number) => randomBytes(bytes).toString('base64url');

/** `POST /v1/chat/completions`: OpenAI's chat API, answered by the agent named in `model`. */
export async function chatCompletionsRoutes(app: FastifyInstance, deps: ChatCompletionsDeps): Promise<void> {
  const { nc, catalog, subjects, config } = deps;

  app.post<{ Body: ChatCompletionRequest }>('/v1/chat/completions', { schema: { body: chatCompletionRequestSchema } }, async (request, reply) => {
    const body = request.body;
    rejectUnsupportedParameters(body);
    const agent = catalog.get(body.model);
    if (!agent) {
      throw new AgentbusError('model_not_found', `The model "${body.model}" does not exist. Known agents: ${catalog.names.join(', ')}.`, { param: 'model' });
    }
    const sessionHeader = request.headers['x-session-id'];
    if (sessionHeader !== undefined && (typeof sessionHeader !== 'string' || !SESSION_ID.test(sessionHeader))) {
      throw new AgentbusError('invalid_request', 'X-Session-ID must be 1-128 characters of letters, digits, ".", "_", ":" or "-".', { param: 'X-Session-ID' });
    }
    const incomingTrace = request.headers['traceparent'];
    const now = Date.now();
    const requestId = `chatcmpl-${randomId(18)}`;
    const sessionId = sessionHeader ?? `conv_${randomId(18)}`;
    const envelope = toEnvelope(body, {
      requestId,
      sessionId,
      createSession: sessionHeader === undefined,
      intent: agent.name,
      tenant: request.tenant,
      now,
      timeoutMs: config.requestTimeoutMs,
      heartbeatMs: config.heartbeatMs,
      traceparent: typeof incomingTrace === 'string' && TRACEPARENT.test(incomingTrace) ? incomingTrace : `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
    });
    // Our own keys only (never user-controlled ones), on both loggers the handlers use.
    request.log = reply.log = request.log.child({ requestId, intent: agent.name, session: sessionId });

    const call = callAgent(nc, envelope, {
      subject: subjects.chat(agent.name),
      cancelSubject: subjects.cancel,
      idleTimeoutMs: Math.max(3 * config.heartbeatMs, 1000),
      deadlineGraceMs: 1000,
    });
    const identity = { id: requestId, created: Math.floor(now / 1000), model: body.model };
    reply.header('x-request-id', requestId);

    if (body.stream === true) {
      return relayAsSse(reply, call, { identity, sessionId, includeUsage: body.stream_options?.include_usage === true, stallTimeoutMs: config.requestTimeoutMs });
    }
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) call.close('client closed the connection');
    });
    try {
      const completion = await collectCompletion(call, identity);
      reply.header('x-session-id', completion.conversation_id);
      return completion;
    } catch (err) {
      if (!call.closedByClient) throw err;
      // Nobody is left to answer: not an error of ours, and nothing to send.
      request.log.info('client left before the answer finished; the worker was told to cancel it');
      reply.hijack();
      return undefined;
    }
  });
}
