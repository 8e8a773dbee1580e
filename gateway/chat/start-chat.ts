import { admit, chargeModelCalls } from './admit.js';
import { dispatch } from './dispatch.js';
import { prepare, type ChatPlan } from './prepare.js';
import { route } from './route.js';
import type { ChatDeps, ChatInput, ChatOrigin, StartedChat } from './types.js';

/**
 * A chat request from any route or transport (OpenAI, legacy, per-agent, WebSocket), in four
 * stages: admit (rate limits, from the key alone; HTTP admits before reading the body and hands
 * the admission in `origin`) → prepare (ids, envelope, privacy, the named agent and scope) →
 * route (who answers; a fan-out's further model calls are counted then) → dispatch (the call
 * over the bus). Routing, sessions, memory, cache and trace logging are therefore the same
 * whatever the wire format.
 *
 * The rate-limit slot has one owner at a time: this function until the call exists (a 4xx of
 * prepare frees it and gives the token back, since nothing was published; a failure in routing
 * frees it), then the call, which frees it when it ends or is closed.
 */
export async function startChatCall(deps: ChatDeps, input: ChatInput, origin: ChatOrigin): Promise<StartedChat> {
  const admission = origin.admission ?? (await admit(deps, origin.caller, origin.inputBytes ?? 0));
  let plan: ChatPlan;
  try {
    plan = prepare(deps, input, origin);
  } catch (err) {
    await admission.release({ refund: true });
    throw err;
  }
  try {
    const choice = await route(deps, plan, origin);
    return dispatch(deps, plan, choice, origin, await chargeModelCalls(admission, choice, origin.laterCalls));
  } catch (err) {
    await admission.release();
    throw err;
  }
}
