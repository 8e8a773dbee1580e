import { AgentbusError, type StoredTurn } from '../../bus-schemas/index.js';
import { conversationOf } from './conversation-to-continue.js';
import { candidateResponses, itemsOf, resolveItemReferences } from './item-references.js';
import type { ResponsesBody } from './responses-request.schema.js';
import type { ReadStoredTurn } from './stored-turn-reader.js';

// Each is one bus query before the request is admitted: bounded, as item references are.
const MAX_OWNERS_READ = 20;
const MAX_CHAIN_STEPS = 100;

// OpenAI's wording and param: clients and agent frameworks match on it to drop what they resent.
const duplicate = (id: string) =>
  new AgentbusError(
    'invalid_request',
    `Duplicate item found with id ${id.slice(0, 256)}. Remove duplicate items from your input and try again.`,
    { param: 'input' },
  );

/** Each read once per request: the duplicate check and the references ask for the same responses. */
function memoized(read: ReadStoredTurn): ReadStoredTurn {
  const turns = new Map<string, Promise<StoredTurn | undefined>>();
  return (responseId) => {
    let found = turns.get(responseId);
    if (!found) {
      found = read(responseId);
      turns.set(responseId, found);
    }
    return found;
  };
}

/** The ids of `turn`'s own items among `named` (the input's ids that could be its, see byOwner). */
function heldBy(turn: StoredTurn, named: readonly string[] | undefined): string | undefined {
  if (named === undefined) return undefined;
  const items = new Set(itemsOf(turn).map((item) => item.id));
  // A stored response keeps no thinking: its reasoning item is known by the id alone.
  return named.find((id) => id.startsWith('rs_') || items.has(id));
}

/** The input's ids by each stored response they could be items of: built once, one lookup per turn read. */
function byOwner(ids: readonly string[]): Map<string, string[]> {
  const owners = new Map<string, string[]>();
  for (const id of ids)
    for (const owner of candidateResponses(id)) {
      const named = owners.get(owner);
      if (named) named.push(id);
      else owners.set(owner, [id]);
    }
  return owners;
}

/**
 * Refuses an input whose items repeat an id, among themselves or with an item of the
 * previous_response_id chain, or of the `conversation` continued, which memory replays already: as
 * OpenAI does, with a 400 naming the id, rather than a prompt holding the same message twice. Items
 * without an id are never duplicates, and a full history sent without either (store: false style)
 * only has to be unique in itself. The chain is read back only to the oldest response the ids name.
 */
export async function refuseDuplicateItems(body: ResponsesBody, read: ReadStoredTurn): Promise<void> {
  if (typeof body.input === 'string') return;
  const ids = body.input.flatMap((item) => (typeof item.id === 'string' ? [item.id] : []));
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw duplicate(id);
    seen.add(id);
  }
  const previous = body.previous_response_id;
  const conversation = conversationOf(body);
  if (previous == null && conversation === undefined) return;
  // The stored responses the ids are items of; none means nothing of the chain is repeated.
  const owners = byOwner(ids);
  const read20 = [...owners.keys()].slice(0, MAX_OWNERS_READ);
  const found = (await Promise.all(read20.map(read))).filter((turn) => turn !== undefined);
  // Each stored response that holds one of the ids, with the first it holds.
  const named = found.flatMap((turn) => {
    const id = heldBy(turn, owners.get(turn.request_id));
    return id === undefined ? [] : [{ turn, id }];
  });
  if (named.length === 0) return;
  if (previous == null) {
    // Continuing a conversation: its items are in it already, whichever branch holds them.
    const inIt = named.find(({ turn }) => turn.session_id === conversation);
    if (inIt !== undefined) throw duplicate(inIt.id);
    return;
  }
  const oldest = Math.min(...named.map(({ turn }) => turn.created_at));
  const walked = new Set<string>();
  let link: string | undefined = previous;
  while (link !== undefined && !walked.has(link) && walked.size < MAX_CHAIN_STEPS) {
    walked.add(link);
    const turn = await read(link);
    if (turn === undefined || turn.created_at < oldest) return;
    const repeated = heldBy(turn, owners.get(turn.request_id));
    if (repeated !== undefined) throw duplicate(repeated);
    link = turn.previous_response_id;
  }
}

/**
 * A Responses body's input checked for duplicate items, then with its item references resolved
 * (item-references.ts); stored responses are read once each for both.
 */
export async function checkedInputItems(
  body: ResponsesBody,
  read: ReadStoredTurn,
  maxItems: number,
): Promise<ResponsesBody> {
  const once = memoized(read);
  // More items than MAX_MESSAGES get their own 400 next (input-limits.ts): not worth reading the chain for.
  if (typeof body.input === 'string' || body.input.length <= maxItems) await refuseDuplicateItems(body, once);
  return resolveItemReferences(body, once);
}
