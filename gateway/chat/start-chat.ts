import { admit, chargeModelCalls } from './admit.js';
import { dispatch } from './dispatch.js';
import { prepare } from './prepare.js';
import { route } from './route.js';
import type { ChatDeps, ChatInput, ChatOrigin, StartedChat } from './types.js';

/**
 * A chat request from any route or transport (OpenAI, legacy, per-agent, WebSocket), in four
 * stages: prepare (ids, envelope, privacy, the named agent and scope) → admit (rate limits) →
 * route (who answers; a fan-out's further model calls are counted then) → dispatch (the call
 * over the bus). Routing, sessions, memory, cache and trace logging are therefore the same
 * whatever the wire format.
 *
 * The rate-limit slot has one owner at a time: this function until the call exists (a failure
 * in routing frees it here), then the call, which frees it when it ends or is closed.
 */
export async function startChatCall(deps: ChatDeps, input: ChatInput, origin: ChatOrigin): Promise<StartedChat> {
  const plan = prepare(deps, input, origin);
  const admission = await admit(deps.rateLimiter, deps.config, plan, origin.caller);
  try {
    const choice = await route(deps, plan, origin);
    return dispatch(deps, plan, choice, origin, await chargeModelCalls(admission, choice));
  } catch (err) {
    await admission.release();
    throw err;
  }
}
