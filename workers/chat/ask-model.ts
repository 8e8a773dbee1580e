import {
  AgentbusError,
  type ChatMessage,
  type ChatRequest,
  type SamplingOptions,
  type ToolCall,
  type UnsequencedFrame,
} from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import type { Logger } from '../../common/logger.js';
import type { OpenedAnswer, ProviderChains } from '../providers/chain.js';
import type { StoredHistoryRange } from '../providers/types.js';
import type { ReplyStream } from '../reply-stream.js';
import { sendAnswer, sendToolCall, withCallId, type Answer } from './answer.js';
import { ThinkSplitter, type SplitText } from './think-splitter.js';

/** An answer from the model, with which provider of the chain gave it. */
export type ModelAnswer = Answer & Pick<OpenedAnswer, 'provider' | 'model' | 'fallback'>;

/** What the model is asked, beyond the envelope's own fields. */
export interface ModelPrompt {
  messages: ChatMessage[];
  /** Where memory's history sits in `messages` (ProviderChatRequest.storedHistory). */
  storedHistory?: StoredHistoryRange;
  options: SamplingOptions;
  /** Only local providers may see it. */
  private: boolean;
}

/**
 * Calls the model through the agent's provider chain, relaying its output as it comes when the
 * client streams (else all at once at the end). With `parallel_tool_calls: false`, calls after
 * the first are dropped: an OpenAI-compatible upstream is told not to make them, but Ollama and
 * llama.cpp cannot be, and some servers ignore it.
 */
export async function askModel(
  deps: { providers: ProviderChains; agent: Agent },
  envelope: ChatRequest,
  prompt: ModelPrompt,
  signal: AbortSignal,
  out: ReplyStream,
  log: Logger,
): Promise<ModelAnswer> {
  const opened = await deps.providers.open(
    deps.agent,
    {
      ...prompt,
      ...(envelope.max_tokens_param ? { maxTokensParam: envelope.max_tokens_param } : {}),
      ...(envelope.tools ? { tools: envelope.tools } : {}),
      ...(envelope.tool_choice !== undefined ? { toolChoice: envelope.tool_choice } : {}),
      ...(envelope.parallel_tool_calls !== undefined ? { parallelToolCalls: envelope.parallel_tool_calls } : {}),
      ...(envelope.response_format ? { responseFormat: envelope.response_format } : {}),
      ...(envelope.verbosity ? { verbosity: envelope.verbosity } : {}),
      ...(envelope.service_tier ? { serviceTier: envelope.service_tier } : {}),
      signal,
    },
    log,
  );
  const { provider, model, fallback } = opened;
  const send = (frame: UnsequencedFrame) => out.send(frame);
  // A non-streamed answer travels at the end: tell the gateway now that the model has started.
  if (!envelope.stream) send({ type: 'heartbeat', generating: true });
  // The thinking travels only to a requester that takes it; it never joins the answer.
  const relayReasoning = envelope.reasoning_deltas === true;
  const splitter = new ThinkSplitter();
  let content = '';
  let reasoning = '';
  const relay = (part: SplitText) => {
    content += part.content;
    if (relayReasoning) reasoning += part.reasoning;
    if (!envelope.stream) return;
    if (relayReasoning && part.reasoning) send({ type: 'delta', reasoning: part.reasoning });
    if (part.content) send({ type: 'delta', content: part.content });
  };
  // A requester from before `refusal_deltas`, or a route that shows only text (a spoken answer, the
  // legacy routes), takes the refusal as the answer's text, which it also is.
  const refusalApart = envelope.refusal_deltas === true;
  let refusal: string | undefined;
  const toolCalls: ToolCall[] = [];
  for await (const event of opened.events) {
    if (event.type === 'delta') relay(splitter.push(event.content));
    else if (event.type === 'reasoning') relay({ content: '', reasoning: event.content });
    else if (event.type === 'refusal') {
      refusal = (refusal ?? '') + event.content;
      if (!refusalApart) relay(splitter.push(event.content));
      else if (envelope.stream) send({ type: 'delta', refusal: event.content });
    } else if (event.type === 'tool_call') {
      if (envelope.parallel_tool_calls === false && toolCalls.length > 0) continue;
      const call = withCallId(event.call);
      if (envelope.stream) sendToolCall(send, toolCalls.length, call);
      toolCalls.push(call);
    } else {
      relay(splitter.end());
      const apart = refusalApart && refusal !== undefined ? { refusal } : {};
      if (!envelope.stream) sendAnswer(send, { content, toolCalls, reasoning, ...apart });
      // Memory keeps all the model said as its answer (history replays it), a refusal sent apart at the end.
      const words = content + (apart.refusal ?? '');
      const { finishReason, usage } = event;
      const answer = { content: words, toolCalls, finishReason, usage, provider, model, fallback };
      return refusal === undefined ? answer : { ...answer, refusal };
    }
  }
  throw new AgentbusError('backend_error', `${provider} finished without reporting completion`);
}
