import { AgentbusError } from '../../bus-schemas/index.js';
import type { ResponsesBody } from '../openai/responses-request.schema.js';
import { agentOf } from '../chat/agent-of.js';
import type { ResponseCreateFrame } from './frames.schema.js';

/**
 * The `POST /v1/responses` body a `response.create` frame carries: the frame minus its protocol
 * fields, with the agent in `model`. Without one the router chooses, as for a chat frame.
 */
export function responsesBodyOf(frame: ResponseCreateFrame): ResponsesBody {
  // A chat frame's field: refused by name, since dropped it would start a new conversation unseen.
  if ((frame as Record<string, unknown>)['session_id'] !== undefined)
    throw new AgentbusError(
      'invalid_request',
      'A response.create frame continues a response with previous_response_id, or a conversation with ' +
        'conversation (its id), not session_id.',
      { param: 'session_id' },
    );
  const {
    type: _type,
    id: _id,
    agent,
    cache: _cache,
    traceparent: _trace,
    private: _private,
    priority: _priority,
    timeout_ms: _timeout,
    ...body
  } = frame;
  const model = agentOf({ agent, model: body.model });
  return model === undefined ? body : { ...body, model };
}
