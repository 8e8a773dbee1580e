import { AgentbusError } from '../bus-schemas/index.js';

// OpenAI's wording, its spelling included: clients and their docs match on it. Shared by the
// gateway (results in a request's own history) and the worker (results answering a stored turn).
const ANSWERS_NOTHING =
  "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.";
const NOT_FOUND = /^Invalid parameter: 'tool_call_id' of '(.*)' not found in 'tool_calls' of previous message\.$/;
const UNANSWERED =
  "An assistant message with 'tool_calls' must be followed by tool messages responding to each " +
  "'tool_call_id'. The following tool_call_ids did not have response messages: ";

/** A `tool` message with no call before it to answer. */
export const toolResultAnswersNothing = (index: number) =>
  new AgentbusError('invalid_request', ANSWERS_NOTHING, { param: `messages[${index}].role` });

/** A `tool` message whose id is not among the calls it follows. */
export const toolCallNotFound = (id: string, index: number) =>
  new AgentbusError(
    'invalid_request',
    `Invalid parameter: 'tool_call_id' of '${id}' not found in 'tool_calls' of previous message.`,
    { param: `messages[${index}].tool_call_id` },
  );

/** A second `tool` message for the same call. */
export const toolResultDuplicate = (id: string, first: number, index: number) =>
  new AgentbusError(
    'invalid_request',
    `Invalid parameter: Duplicate value for 'tool_call_id' of '${id}', in messages[${first}] and messages[${index}].`,
    { param: `messages[${index}].tool_call_id` },
  );

/** A `tool` message answering a call a token limit cut, which memory keeps out of the conversation. */
export const toolCallCut = (id: string, index: number) =>
  new AgentbusError(
    'invalid_request',
    `The tool call '${id}' was cut short by max_tokens (finish_reason "length") or a content filter: its ` +
      'arguments are incomplete, ' +
      'so it is not part of the conversation and takes no result. Ask again with a larger max_tokens, or go on ' +
      'with a user message.',
    { param: `messages[${index}].tool_call_id` },
  );

/** An assistant message repeating a call the stored conversation already ends with. */
export const toolCallRepeated = (id: string, index: number) =>
  new AgentbusError(
    'invalid_request',
    `Duplicate tool call '${id}' in messages[${index}]: the conversation this request continues already holds it ` +
      '(its last turn made it); send only its result.',
    { param: `messages[${index}]` },
  );

/**
 * Calls still without a result when the message at `index` (a user or assistant one) comes, or of the
 * assistant message at `index` when the request ends before their results; undefined: the stored
 * turn's calls, which the request opens by answering only in part.
 */
export const toolCallsUnanswered = (ids: Iterable<string>, index: number | undefined) =>
  new AgentbusError('invalid_request', `${UNANSWERED}${[...ids].join(', ')}`, {
    param: index === undefined ? 'messages' : `messages[${index}].role`,
  });

/**
 * The same refusals in the Responses API's words, which name function calls and their outputs:
 * `callId` is the call id of the tool message the error is about, when it is one. Undefined for
 * any other message.
 */
export function toolResultErrorInResponses(message: string, callId: string | undefined): string | undefined {
  const notFound = NOT_FOUND.exec(message)?.[1];
  if (notFound !== undefined) return `No tool call found for function call output with call_id ${notFound}.`;
  if (message === ANSWERS_NOTHING && callId !== undefined)
    return `No tool call found for function call output with call_id ${callId}.`;
  if (message.startsWith(UNANSWERED))
    return `No tool output found for function call ${message.slice(UNANSWERED.length)}.`;
  return undefined;
}
