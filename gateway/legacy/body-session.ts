import type { FastifyRequest } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import { namedAsAgent } from '../chat/agent-of.js';

/**
 * An unknown session that the legacy body's `session_id` named (no `X-Session-ID` was sent) is
 * reported on that field: the worker, which sees only the session, names the header.
 */
export function namingBodySession(err: unknown, request: FastifyRequest): unknown {
  if (!(err instanceof AgentbusError) || err.code !== 'session_not_found') return err;
  if (request.headers['x-session-id'] !== undefined) return err;
  return new AgentbusError('session_not_found', err.message, { param: 'session_id', cause: err });
}

/**
 * An error about the agent that a `/query` body named with `agent` (unknown, not a chat agent,
 * outside the key's scope) is reported on that field: the chat request it becomes names the agent
 * in `model`, the field the client did not send. The WebSocket's frames do the same.
 */
export function namingBodyAgent(err: unknown, body: { agent?: string | undefined }): unknown {
  if (!(err instanceof AgentbusError) || err.param !== 'model') return err;
  if (body.agent === undefined) return err;
  return namedAsAgent(err);
}
