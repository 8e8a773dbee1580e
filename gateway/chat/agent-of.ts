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
