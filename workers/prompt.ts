import type { ChatMessage } from '../bus-schemas/index.js';
import type { Agent } from '../common/catalog.js';
import type { RequestInput } from '../common/client-history.js';
import type { StoredHistoryRange } from './providers/types.js';

/**
 * The messages this request adds to the conversation, stored with the turn and replayed as history
 * later. For the Responses API all of its input items, which may carry earlier turns, system and
 * developer messages among them (OpenAI replays them), but not its `instructions`; results that
 * open it are stored before its system messages, right after the calls they answer. Else those after
 * the last assistant message, without system messages: a Chat Completions client sends its
 * instructions with every request.
 */
export function newInputMessages(request: RequestInput): ChatMessage[] {
  const { messages } = request;
  if (request.input_appends === true)
    return [...resultsNextToTheirCalls(messages.slice(request.opens_with_instructions === true ? 1 : 0))];
  let start = 0;
  messages.forEach((message, index) => {
    if (message.role === 'assistant') start = index + 1;
  });
  return messages.slice(start).filter((message) => message.role !== 'system');
}

/**
 * The request's messages with the tool results that open it (after its system messages) moved in
 * front of those system messages: the results answer the calls that end the stored history, and
 * an OpenAI-compatible backend takes them only right after those calls. The Responses API sends
 * `instructions` as such a leading system message beside `function_call_output` items.
 */
function resultsNextToTheirCalls(messages: readonly ChatMessage[]): readonly ChatMessage[] {
  let systems = 0;
  while (messages[systems]?.role === 'system') systems++;
  let results = systems;
  while (messages[results]?.role === 'tool') results++;
  if (systems === 0 || results === systems) return messages;
  return [...messages.slice(systems, results), ...messages.slice(0, systems), ...messages.slice(results)];
}

/**
 * The prompt sent to the model: one system message — the agent's system prompt, then the request's
 * standing instructions — the agent's few-shot examples, stored history, then the rest of the
 * request. Standing instructions (the Responses API's `instructions`; the system messages that open
 * a Chat Completions request, which its client sends with every request) go first, as OpenAI puts
 * them at the top of the context: after the history they would read as a turn. They join the
 * agent's system message rather than follow it: strict chat templates (Mistral's) take only the
 * first message as the system prompt and refuse any other. Examples come before history so they
 * read as the agent's standing behaviour. `storedHistory` says where the history sits, for a
 * provider whose context must leave out its oldest turns.
 */
export function buildPrompt(
  agent: Agent,
  history: readonly ChatMessage[],
  request: RequestInput,
): { messages: ChatMessage[]; storedHistory: StoredHistoryRange } {
  const examples = agent.examples.flatMap((example): ChatMessage[] => [
    { role: 'user', content: example.user },
    { role: 'assistant', content: example.assistant },
  ]);
  const standing = standingInstructions(request);
  const system = [agent.systemPrompt, ...request.messages.slice(0, standing).map((message) => message.content)]
    .filter((text) => text !== '')
    .join('\n\n');
  const rest = request.messages.slice(standing);
  const start = 1 + examples.length;
  return {
    messages: [
      { role: 'system', content: system },
      ...examples,
      ...history,
      ...(history.length > 0 ? resultsNextToTheirCalls(rest) : rest),
    ],
    storedHistory: { start, end: start + history.length },
  };
}

/**
 * How many messages open the request as standing instructions: the Responses API's `instructions`
 * (its system and developer input items are conversation items, replayed where they stand), or a
 * Chat Completions request's leading system messages — unless they are all it holds: then they are
 * what it asks now ("summarise the conversation"), and stay after the history, as at the top the
 * prompt would end with the last stored answer, which a backend continues rather than answers.
 */
function standingInstructions(request: RequestInput): number {
  if (request.input_appends === true) return request.opens_with_instructions === true ? 1 : 0;
  let count = 0;
  while (request.messages[count]?.role === 'system') count++;
  return count === request.messages.length ? 0 : count;
}
