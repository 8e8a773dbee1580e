import { AgentbusError } from '../../bus-schemas/index.js';

/**
 * Who is calling: what one presented API key proves. Built by the key store (API_KEYS, the
 * keys file) and read by everything downstream of authentication: session ownership
 * (`tenant`), agent scopes (`agents`), rate limits (`tier`) and privacy (`private`).
 */
export interface Caller {
  /** Owner id of the key's sessions and its bus tenant: a hash prefix, never the key itself. */
  readonly tenant: string;
  /** The key's display name from the keys file (`api-keys` for keys from API_KEYS). */
  readonly name: string;
  /** Agents this key may call; null means every agent. */
  readonly agents: readonly string[] | null;
  /** Rate-limit tier name (a row of the tiers table). */
  readonly tier: string;
  /** Every request of this key is private: answered by local providers only. */
  readonly private: boolean;
}

/** True when `caller` may call `agent`. */
export function mayCall(caller: Caller, agent: string): boolean {
  return caller.agents === null || caller.agents.includes(agent);
}

/**
 * A 403 `agent_not_allowed` unless `caller` may call `agent`: every route's refusal of an agent
 * outside the scope. `sentAs`: the model name the key sent for it (an alias such as `tts-1`),
 * which the refusal names instead — the key never learns the name of an agent it may not call.
 */
export function assertMayCall(caller: Caller, agent: string, sentAs: string = agent): void {
  if (mayCall(caller, agent)) return;
  const what = sentAs === agent ? `the agent "${agent}"` : `the model "${sentAs}"`;
  throw new AgentbusError('agent_not_allowed', `This API key ("${caller.name}") may not call ${what}.`, {
    param: 'model',
  });
}
