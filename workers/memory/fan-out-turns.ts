import { isPartId, requestRoot } from './request-parts.js';

/** A stored turn as history replays it. */
export interface ReplayedTurn {
  request_id: string;
  agent: string;
  input_messages: string;
  assistant_response: string;
  tool_calls: string | null;
  finish_reason: string;
}

/**
 * Stored turns, oldest first, with the turns of each fan-out (`R`, `R.<agent>`, `R.aggregate`) made
 * one, at the place of its first: the client asked once and got one answer, so the model sees the
 * question once and that answer. Each part stored its own turn, which stays as it is; only what is
 * replayed changes. A turn of a request that was not fanned out is returned as it is.
 */
export function oneTurnPerRequest<T extends ReplayedTurn>(turns: T[]): T[] {
  // Only a fan-out stores parts (`R.<agent>`, `R.aggregate`): without one, every turn is its own exchange.
  if (!turns.some((turn) => isPartId(turn.request_id))) return turns;
  const requests = new Map<string, T[]>();
  for (const turn of turns) {
    const root = requestRoot(turn.request_id);
    const parts = requests.get(root);
    if (parts) parts.push(turn);
    else requests.set(root, [turn]);
  }
  return [...requests.entries()].flatMap(([root, parts]) => asAnswered(root, parts) ?? []);
}

/**
 * The answer the client got, as far as memory holds it (gateway/call/fan-out.ts composes it):
 * the aggregator's synthesis word for word, else a `## <agent>` section per stored part, the
 * first agent's (`R`) first, the others in the order they were stored. What memory does not keep
 * is missing: the sections of agents that failed (they store no turn), and the route's order of
 * a third agent and later (the shipped routes name two).
 */
function asAnswered<T extends ReplayedTurn>(root: string, parts: T[]): T | undefined {
  const first = parts.find((part) => part.request_id === root);
  if (first && parts.length === 1) return first;
  const synthesis = parts.find((part) => part.request_id === `${root}.aggregate`);
  // The question as an agent of the route was sent it: the aggregator's request adds its brief and the parts'
  // answers, never to be replayed as the client's words. A window that kept only the synthesis leaves it out.
  const asked = first ?? parts.find((part) => part !== synthesis);
  if (!asked) return undefined;
  // A fan-out answer carries text only: no part's tool calls reach the client.
  const text = synthesis ? synthesis.assistant_response : sections(root, parts, first);
  return { ...asked, assistant_response: text, tool_calls: null };
}

function sections<T extends ReplayedTurn>(root: string, parts: T[], first: T | undefined): string {
  const ordered = first ? [first, ...parts.filter((part) => part !== first)] : parts;
  return ordered
    .map((part) => {
      // A part's id names its agent in the route; the first agent's turn says which agent it was.
      const agent = isPartId(part.request_id) ? part.request_id.slice(root.length + 1) : part.agent;
      return `## ${agent}\n\n${part.assistant_response}`;
    })
    .join('\n\n');
}
