import { AgentbusError } from '../bus-schemas/index.js';

// OpenAI's wording, its spelling included: clients and their docs match on it. Shared by the
// gateway (results in a request's own history) and the worker (results answering a stored turn).

/** A `tool` message with no call before it to answer. */
export const toolResultAnswersNothing = (index: number) =>
  new AgentbusError(
    'invalid_request',
    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
    { param: `messages[${index}].role` },
  );

/** A `tool` message whose id is not among the calls it follows. */
export const toolCallNotFound = (id: string, index: number) =>
  new AgentbusError(
    'invalid_request',
    `Invalid parameter: 'tool_call_id' of '${id}' not found in 'tool_calls' of previous message.`,
    { param: `messages[${index}].tool_call_id` },
  );
