import { AgentbusError } from '../../bus-schemas/index.js';

/**
 * The agent a body names in `agent` or `model` (both must agree): WebSocket frames and the legacy
 * `/query` take either. Undefined lets the router choose.
 */
export function agentOf(body: { agent?: string | undefined; model?: string | undefined }): string | undefined {
  const { agent, model } = body;
  if (agent !== undefined && model !== undefined && agent !== model) {
    throw new AgentbusError(
      'invalid_request',
      `"agent" (${agent}) and "model" (${model}) name different agents; send one.`,
      {
        param: 'agent',
      },
    );
  }
  return agent ?? model;
}

/**
 * An error about the agent, for a body that named it in `agent`: the chat path it took says
 * `model` (its field, and "The model … does not exist"), a field this client did not send.
 */
export function namedAsAgent(error: AgentbusError): AgentbusError {
  return error.restated({ param: 'agent', message: error.message.replace(/^The model "/, 'The agent "') });
}
