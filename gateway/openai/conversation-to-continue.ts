import { AgentbusError, noSuchResponseMessage, noSuchSessionMessage } from '../../bus-schemas/index.js';
import { ID_PREFIXES } from '../chat/id-prefixes.js';
import type { ResponsesBody } from './responses-request.schema.js';

/** The id prefixes of the other answers memory stores: a chat completion's, a text completion's. */
const COMPLETION_ID_PREFIXES = [ID_PREFIXES.chatCompletion, ID_PREFIXES.completion];

/** What a Responses request continues: a response (`previous_response_id`) or a conversation. */
type Continues = Pick<ResponsesBody, 'previous_response_id' | 'conversation'>;

/** The conversation id a body names, sent as a string or as `{"id": …}`. */
export function conversationOf(body: Continues): string | undefined {
  const { conversation } = body;
  if (conversation == null) return undefined;
  return typeof conversation === 'string' ? conversation : conversation.id;
}

/**
 * The session a Responses request continues, over HTTP and the WebSocket alike: the response
 * `previous_response_id` names or the end of the conversation `conversation` names; undefined
 * starts one. As OpenAI, the two are refused together, and each takes only its own kind of id —
 * memory would resolve either, but a response stored with a conversation's id as its
 * previous_response_id would echo an id `GET /v1/responses/{id}` does not know. `store: false`
 * reads no history, so it continues nothing. Both faces call it once, before the input is read.
 */
export function sessionToContinueOf(body: Continues & Pick<ResponsesBody, 'store'>): string | undefined {
  const previous = body.previous_response_id ?? undefined;
  const conversation = conversationOf(body);
  if (previous !== undefined && conversation !== undefined)
    throw new AgentbusError(
      'invalid_request',
      "Mutually exclusive parameters: send only one of 'previous_response_id' (continues from that response) " +
        "or 'conversation' (continues from the end of that conversation).",
      { param: 'conversation' },
    );
  if (previous !== undefined && !previous.startsWith(ID_PREFIXES.response))
    throw new AgentbusError(
      'invalid_request',
      `Invalid 'previous_response_id': '${previous}'. Expected an ID that begins with '${ID_PREFIXES.response}'; ` +
        "to continue a conversation by its id (a response's conversation.id), send it as 'conversation'.",
      { param: 'previous_response_id' },
    );
  if (conversation !== undefined && conversation.startsWith(ID_PREFIXES.response))
    throw new AgentbusError(
      'invalid_request',
      `Invalid 'conversation': '${conversation}' is a response id; send it as 'previous_response_id', or send ` +
        "the response's conversation.id as 'conversation'.",
      { param: 'conversation' },
    );
  // Memory would resolve a completion's id to its conversation, but the response would name the
  // completion as its conversation until done, and the conversation's own id after.
  if (conversation !== undefined && COMPLETION_ID_PREFIXES.some((prefix) => conversation.startsWith(prefix)))
    throw new AgentbusError(
      'invalid_request',
      `Invalid 'conversation': '${conversation}' is a completion's id; send that completion's conversation_id ` +
        "as 'conversation'.",
      { param: 'conversation' },
    );
  const continued = previous ?? conversation;
  if (body.store === false && continued !== undefined)
    throw new AgentbusError(
      'invalid_request',
      `"store": false reads no stored history, so it cannot continue ${continuedField(body)}; leave store out.`,
      { param: 'store' },
    );
  return continued;
}

/** The field a request's continued session came from, for the errors about it (the two are exclusive). */
export const continuedField = (body: Continues) =>
  body.previous_response_id != null ? 'previous_response_id' : 'conversation';

/**
 * An unknown session (or another key's) in the Responses API's terms, over HTTP and the WebSocket
 * alike: a previous_response_id reads as the API's 404 for a response, a conversation as memory's
 * own 404 named on `conversation` (the worker, which sees only the session, names the header).
 */
export function namingContinued<E>(err: E, body: Continues): E | AgentbusError {
  if (!(err instanceof AgentbusError) || err.code !== 'session_not_found') return err;
  const previous = body.previous_response_id;
  if (previous != null)
    return new AgentbusError('response_not_found', noSuchResponseMessage(previous), {
      param: 'previous_response_id',
      cause: err,
    });
  const conversation = conversationOf(body);
  if (conversation === undefined) return err;
  return new AgentbusError('session_not_found', noSuchSessionMessage(conversation, 'conversation'), {
    param: 'conversation',
    cause: err,
  });
}
