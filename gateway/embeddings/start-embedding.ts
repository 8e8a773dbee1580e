import { randomBytes } from 'node:crypto';
import { AgentbusError, PROTOCOL_VERSION, type EmbedRequest, type EmbedVectorsReply } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import type { SignalLike } from '../../common/light-signal.js';
import { traceIdOf } from '../trace-log/trace-log.js';
import { admit } from '../chat/admit.js';
import { refundIfRefused } from '../http/admit-before-body.js';
import type { CallOrigin, ChatDeps, ChatOrigin } from '../chat/types.js';
import { sendEmbedding } from './send-embedding.js';
import { embeddingAgent } from './embedding-agent.js';
import { traceparentFor } from '../chat/traceparent.js';

/** What a client asks for, whatever its wire format: the inputs already as a list. */
export interface EmbeddingInput {
  model: string | undefined;
  input: string[] | number[][];
  dimensions: number | undefined;
}

/** The vectors and who made them (the answer's headers were announced once the call was admitted). */
export interface EmbeddingResult {
  reply: EmbedVectorsReply;
  agent: Agent;
}

/** Every input has something in it, within MAX_MESSAGE_CHARS as a chat message's must be. */
function checkLengths(input: EmbeddingInput['input'], maxChars: number): void {
  input.forEach((item, index) => {
    const length = typeof item === 'string' ? item.length : item.length;
    // OpenAI refuses an empty input too: there is nothing to embed, and a vector of nothing misleads.
    if (length === 0)
      throw new AgentbusError('invalid_request', `input[${index}] is empty; send text (or tokens) to embed.`, {
        param: `input[${index}]`,
      });
    if (length > maxChars)
      throw new AgentbusError(
        'message_too_long',
        `input[${index}] is ${length} ${typeof item === 'string' ? 'characters' : 'tokens'} long; ` +
          `MAX_MESSAGE_CHARS allows ${maxChars}.`,
        { param: `input[${index}]` },
      );
  });
}

/** The embedding agent named (scope, kind), with `dimensions` and the inputs' lengths checked. */
function checkedAgent(deps: ChatDeps, input: EmbeddingInput, origin: Pick<ChatOrigin, 'caller' | 'pathAgent'>) {
  const agent = embeddingAgent(deps.catalog, input.model, origin.pathAgent, origin.caller);
  if (input.dimensions !== undefined && !agent.matryoshka)
    throw new AgentbusError(
      'invalid_request',
      `"dimensions" cannot be honoured: the embedding agent "${agent.name}" is not marked "matryoshka": true ` +
        'in the agent catalog, and truncating the vectors of other models loses meaning. Leave it out.',
      { param: 'dimensions' },
    );
  checkLengths(input.input, deps.config.inputLimits.maxMessageChars);
  return agent;
}

/**
 * An embeddings request: the named embedding agent (scope, kind), the key's rate limits, a
 * request over the bus to a worker of the agent's queue group (retried once, on another worker
 * when one is there; a batch too large for one bus message in parts: send-embedding.ts; a copy
 * of each request in the audit stream), and one trace log line. Nothing is stored in memory or
 * the response cache. `origin.sessionToContinue` and `refreshCache` are not used: embeddings have
 * no conversation. `left` aborts when the client went away: the worker is told to stop.
 */
export async function runEmbedding(
  deps: ChatDeps,
  input: EmbeddingInput,
  origin: CallOrigin,
  left?: SignalLike,
): Promise<EmbeddingResult> {
  const { caller, hints } = origin;
  const agent = await refundIfRefused(origin.admission, () => checkedAgent(deps, input, origin));
  const now = Date.now();
  const requestId = `embd-${randomBytes(18).toString('base64url')}`;
  const traceparent = traceparentFor(origin.traceparent);
  const totalMs = agent.timeouts.totalMs ?? deps.config.requestTimeoutMs;
  const texts = input.input.filter((item): item is string => typeof item === 'string');
  // As for chat: a secret in the input keeps it on local providers when SECRETS_MAKE_PRIVATE is on.
  const secretsFound = deps.config.secretsMakePrivate ? deps.redactor.detect(texts.join('\n')) : [];
  const isPrivate = hints.private || caller.private || secretsFound.length > 0;
  const admission = origin.admission ?? (await admit(deps, caller, 0, totalMs));
  origin.announce?.({ 'x-request-id': requestId, traceparent, ...admission.headers });
  const envelope: EmbedRequest = {
    v: PROTOCOL_VERSION,
    request_id: requestId,
    intent: agent.name,
    model: input.model ?? agent.name,
    input: input.input,
    ...(input.dimensions !== undefined ? { dimensions: input.dimensions } : {}),
    ...(isPrivate ? { private: true } : {}),
    tenant: caller.tenant,
    timeout_ms: Math.min(totalMs, hints.timeoutMs ?? totalMs),
    traceparent,
    created_at: now,
  };
  let status = 200;
  let error: string | undefined;
  // The model that embedded (the worker says), as a chat's trace line names meta.model.
  let answeredBy: string | undefined;
  try {
    const reply = await sendEmbedding(deps, agent, envelope, left, origin.log);
    answeredBy = reply.model;
    return { reply, agent };
  } catch (err) {
    status = err instanceof AgentbusError ? err.status : 500;
    error = err instanceof AgentbusError ? err.code : 'internal_error';
    throw err;
  } finally {
    await admission.release();
    deps.traceLog.record({
      ts: new Date(now).toISOString(),
      trace_id: traceIdOf(traceparent),
      request_id: requestId,
      session: null,
      agent: agent.name,
      model: answeredBy ?? agent.model,
      prompt: deps.redactor.redact(texts.join('\n')),
      response_len: 0,
      cached: false,
      status,
      ...(error ? { error } : {}),
      duration_ms: Date.now() - now,
    });
  }
}
