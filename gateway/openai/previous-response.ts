import { AgentbusError, noSuchResponseMessage } from '../../bus-schemas/index.js';

/**
 * A previous_response_id memory does not know (or another key's) reads as the Responses API's
 * 404, over HTTP and the WebSocket alike.
 */
export function namingPreviousResponse<E>(err: E, previous: string | null | undefined): E | AgentbusError {
  if (previous == null || !(err instanceof AgentbusError) || err.code !== 'session_not_found') return err;
  return new AgentbusError('response_not_found', noSuchResponseMessage(previous), {
    param: 'previous_response_id',
    cause: err,
  });
}
