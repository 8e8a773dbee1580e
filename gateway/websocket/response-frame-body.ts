import type { ResponsesBody } from '../openai/responses-request.schema.js';
import { agentOf } from './chat-frame-body.js';
import type { ResponseCreateFrame } from './frames.schema.js';

/**
 * The `POST /v1/responses` body a `response.create` frame carries: the frame minus its protocol
 * fields, with the agent in `model`. Without one the router chooses, as for a chat frame.
 */
export function responsesBodyOf(frame: ResponseCreateFrame): ResponsesBody {
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
