import { AgentbusError, PROTOCOL_VERSION, type ChatMessage, type ChatRequest } from '../../bus-schemas/index.js';
import { systemClock } from '../../common/clock.js';
import { secretsInRequest } from '../../common/request-text.js';
import { timeOrderedId } from '../../common/time-ordered-id.js';
import { withinScope } from './agent-scope-check.js';
import { AUTO_MODEL, namedChoice, type AgentChoice } from './choose-agents.js';
import type { ChatDeps, ChatInput, ChatOrigin } from './types.js';
import { checkToolResults } from './tool-results.js';
import { traceparentFor } from './traceparent.js';
import { ID_PREFIXES } from './id-prefixes.js';

/** Everything decided about a request before it is admitted: its ids, envelope and privacy. */
export interface ChatPlan {
  readonly requestId: string;
  readonly sessionId: string;
  readonly traceparent: string;
  /** When the request arrived (ms since the epoch). */
  readonly now: number;
  /** The envelope each agent's request is made from (`intent` and `messages` set per agent). */
  readonly envelope: Readonly<ChatRequest>;
  /** What the trace log shows as the prompt: the last user or tool message. */
  readonly prompt: string;
  /** What the router reads: the last user message (a tool follow-up is routed like its question). */
  readonly question: string;
  /** Only local providers may answer. */
  readonly private: boolean;
  /** Names of the secret patterns found in the input (they made the request private). */
  readonly secretsFound: readonly string[];
  /** The agent the request names, within the caller's scope; undefined: the router chooses. */
  readonly named: AgentChoice | undefined;
}

/** The text of the last message with one of `roles`, or "". */
function lastText(messages: readonly ChatMessage[], roles: ReadonlyArray<ChatMessage['role']>): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (roles.includes(message.role)) return message.content;
  }
  return '';
}

/**
 * `store: false` neither reads nor writes memory (the worker opens no session), so it cannot
 * continue one: refused rather than the session silently ignored, as /v1/responses refuses it
 * with previous_response_id.
 */
function checkStore(input: ChatInput, origin: ChatOrigin): void {
  if (input.store !== false || origin.sessionToContinue === undefined) return;
  throw new AgentbusError(
    'invalid_request',
    '"store": false reads no stored history and stores nothing, so it cannot continue the session this request ' +
      'names (X-Session-ID, or a WebSocket frame\'s session_id); leave out "store" to continue it.',
    { param: 'store' },
  );
}

/**
 * The first stage: ids, trace context, the envelope, privacy (a hint, the key, or a secret found
 * in anything a provider would read), and the agent the request names, checked against the caller's scope — an
 * unknown or out-of-scope agent (404, 403) is refused here, before it spends any of the key's
 * budget. Requests memory cannot honour (`store: false` with a session, tool results that answer
 * no call) too. Throws the request's 4xx; publishes nothing.
 */
export function prepare(
  deps: Pick<ChatDeps, 'catalog' | 'config' | 'redactor' | 'clock'>,
  input: ChatInput,
  origin: ChatOrigin,
): ChatPlan {
  const { config, catalog } = deps;
  checkStore(input, origin);
  checkToolResults(input, origin.sessionToContinue !== undefined);
  const now = (deps.clock ?? systemClock).now();
  const requestId = `${input.idPrefix ?? ID_PREFIXES.chatCompletion}${timeOrderedId(now)}`;
  const sessionId = origin.sessionToContinue ?? `${ID_PREFIXES.conversation}${timeOrderedId(now)}`;
  const traceparent = traceparentFor(origin.traceparent);
  const { caller, hints } = origin;
  const model = input.model ?? origin.pathAgent?.name ?? AUTO_MODEL;
  // Every string the provider would receive, not only message text (tool calls, tools, schemas).
  const secretsFound = config.secretsMakePrivate
    ? secretsInRequest(deps.redactor, {
        messages: input.messages,
        tools: input.tools,
        toolChoice: input.tool_choice,
        responseFormat: input.response_format,
        stop: input.options.stop,
      })
    : [];
  const isPrivate = hints.private || caller.private || secretsFound.length > 0;
  const envelope: ChatRequest = {
    v: PROTOCOL_VERSION,
    request_id: requestId,
    session_id: sessionId,
    create_session: origin.sessionToContinue === undefined,
    intent: AUTO_MODEL,
    model,
    messages: input.messages,
    options: input.options,
    ...(input.max_tokens_param ? { max_tokens_param: input.max_tokens_param } : {}),
    ...(input.tools ? { tools: input.tools } : {}),
    ...(input.tool_choice !== undefined ? { tool_choice: input.tool_choice } : {}),
    ...(input.parallel_tool_calls !== undefined ? { parallel_tool_calls: input.parallel_tool_calls } : {}),
    ...(input.response_format ? { response_format: input.response_format } : {}),
    ...(input.verbosity ? { verbosity: input.verbosity } : {}),
    ...(input.service_tier ? { service_tier: input.service_tier } : {}),
    ...(input.user !== undefined ? { user: input.user } : {}),
    ...(input.metadata ? { metadata: input.metadata } : {}),
    ...(input.previous_response_id !== undefined ? { previous_response_id: input.previous_response_id } : {}),
    ...(input.input_appends ? { input_appends: true } : {}),
    ...(input.opens_with_instructions ? { opens_with_instructions: true } : {}),
    ...(origin.refreshCache ? { cache: 'refresh' as const } : {}),
    ...(input.store === false ? { store: false } : {}),
    stream: input.stream,
    // This gateway relays the model's thinking apart (reasoning_content); never in the answer.
    reasoning_deltas: true,
    // It knows `content_filter` as a finish reason, so a filtered answer never reads as complete.
    content_filter_finish: true,
    // Only a route that shows a refusal apart asks for it; the others take it as the answer's text.
    ...(input.refusal_deltas ? { refusal_deltas: true } : {}),
    timeout_ms: config.requestTimeoutMs,
    heartbeat_ms: config.heartbeatMs,
    tenant: caller.tenant,
    created_at: now,
    traceparent,
    ...(isPrivate ? { private: true } : {}),
    ...(hints.priority !== undefined ? { priority: hints.priority } : {}),
  };
  const named = namedChoice(catalog, input.model, origin.pathAgent, caller);
  return {
    requestId,
    sessionId,
    traceparent,
    now,
    envelope,
    prompt: lastText(input.messages, ['user', 'tool']),
    question: lastText(input.messages, ['user']),
    private: isPrivate,
    secretsFound,
    named: named === undefined ? undefined : withinScope(caller, named, catalog.names),
  };
}
