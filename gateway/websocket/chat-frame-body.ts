import { AgentbusError } from '../../bus-schemas/index.js';
import type { ChatBody } from '../openai/chat-completion-request.schema.js';
import type { ChatFrame } from './frames.schema.js';

/**
 * An error in the chat frame's own terms: workers name the session field as HTTP sends it
 * (`X-Session-ID`), the gateway names the agent `model` as the HTTP body does.
 */
export function inFrameTerms(error: AgentbusError, frame: ChatFrame): AgentbusError {
  const param =
    error.param === 'X-Session-ID'
      ? 'session_id'
      : error.param === 'model' && frame.agent !== undefined
        ? 'agent'
        : undefined;
  return param === undefined ? error : new AgentbusError(error.code, error.message, { param });
}

/**
 * The chat body a chat frame carries: the frame minus its protocol fields, with the agent in
 * `model` as the HTTP body names it.
 */
export function chatBodyOf(frame: ChatFrame): ChatBody {
  const {
    type: _type,
    id: _id,
    agent,
    session_id: _session,
    cache: _cache,
    traceparent: _trace,
    private: _private,
    priority: _priority,
    timeout_ms: _timeout,
    ...body
  } = frame;
  if (agent !== undefined && body.model !== undefined && agent !== body.model) {
    throw new AgentbusError(
      'invalid_request',
      `"agent" (${agent}) and "model" (${body.model}) name different agents; send one.`,
      { param: 'agent' },
    );
  }
  // No agent at all: the router chooses, as for "auto".
  const model = agent ?? body.model;
  return model === undefined ? body : { ...body, model };
}
