import { AgentbusError } from '../../bus-schemas/index.js';
import type { ChatBody } from '../openai/chat-completion-request.schema.js';
import type { ChatFrame, ResponseCreateFrame } from './frames.schema.js';
import { agentOf, namedAsAgent } from '../chat/agent-of.js';
import { continuedField } from '../openai/conversation-to-continue.js';

/**
 * An error in the request frame's own terms: workers name the session field as HTTP sends it
 * (`X-Session-ID`), the gateway names the agent `model` as the HTTP body does.
 */
export function inFrameTerms(error: AgentbusError, frame: ChatFrame | ResponseCreateFrame): AgentbusError {
  if (error.param === 'X-Session-ID')
    return error.restated({ param: frame.type === 'chat' ? 'session_id' : continuedField(frame) });
  return error.param === 'model' && frame.agent !== undefined ? namedAsAgent(error) : error;
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
  // No agent at all: the router chooses, as for "auto".
  const model = agentOf({ agent, model: body.model });
  return model === undefined ? body : { ...body, model };
}
