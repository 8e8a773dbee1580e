import { AgentbusError, type StoredTurn } from '../../bus-schemas/index.js';
import type { ResponsesBody, ResponsesInputItem } from './responses-request.schema.js';
import { storedInputItems, storedResponseObject } from './stored-response.js';
import type { ReadStoredTurn } from './stored-turn-reader.js';

// Each distinct response referenced is one bus query before the request is admitted: bounded.
const MAX_REFERENCED_RESPONSES = 20;

/** `{"type": "item_reference", "id": …}`, or OpenAI's short form: an item with only an `id`. */
export function isItemReference(item: ResponsesInputItem): boolean {
  if (item.type === 'item_reference') return true;
  return item.type === undefined && item.role === undefined && item.content === undefined && item.id !== undefined;
}

/**
 * The responses an item id may belong to. Item ids are derived from their response's id
 * (responses-object.ts, stored-response.ts): `msg_<base>`, `rs_<base>`, `fc_<base>_<n>` for its
 * output, `<kind>_<base>_in<n>` for its input; `<base>` is the response id without `resp_` (a
 * chat completion's id keeps its prefix). A base may itself end like a suffix, so each reading
 * is a candidate.
 */
export function candidateResponses(itemId: string): string[] {
  const match = /^(msg|rs|fc|fco)_(.+)$/.exec(itemId);
  if (!match) return [];
  const [, kind, rest] = match as unknown as [string, string, string];
  const bases: string[] = [];
  // Input items are messages, function calls and their outputs, never reasoning.
  const input = kind === 'rs' ? null : /^(.+)_in\d+$/.exec(rest);
  if (input) bases.push(input[1]!);
  if (kind === 'fc') {
    const output = /^(.+)_\d+$/.exec(rest);
    if (output) bases.push(output[1]!);
  } else if (kind !== 'fco') bases.push(rest);
  return [...new Set(bases.flatMap((base) => [`resp_${base}`, base]))];
}

/** The items of a stored response a reference may name: its output and its input items. */
export function itemsOf(turn: StoredTurn): Array<{ id: string; type: string }> {
  return [...storedResponseObject(turn).output, ...storedInputItems(turn)] as Array<{ id: string; type: string }>;
}

/**
 * `input` with each `item_reference` replaced by the item it names, read from the caller's
 * stored responses (tenant-scoped, over the bus): an output message or function call of an
 * earlier response, or one of its input items. A reference to an earlier response's reasoning
 * becomes a reasoning item, which the translation drops as it drops all (memory keeps no thinking):
 * kept in place, so the items after it keep their `input[i]` in errors. An id that names no item of
 * this key's responses is a 404 `item_not_found` naming it. Bodies without references are
 * returned as they are, with no query.
 */
export async function resolveItemReferences(body: ResponsesBody, read: ReadStoredTurn): Promise<ResponsesBody> {
  if (typeof body.input === 'string' || !body.input.some(isItemReference)) return body;
  const turns = new Map<string, Promise<StoredTurn | undefined>>();
  const turn = (responseId: string) => {
    let found = turns.get(responseId);
    if (!found) {
      found = read(responseId);
      turns.set(responseId, found);
    }
    return found;
  };
  const input: ResponsesInputItem[] = [];
  for (const [index, item] of body.input.entries()) {
    if (!isItemReference(item)) {
      input.push(item);
      continue;
    }
    const param = `input[${index}].id`;
    if (typeof item.id !== 'string')
      throw new AgentbusError('invalid_request', `${param} is required for an item_reference item.`, { param });
    input.push(await resolve(item.id, param, turn, turns));
  }
  return { ...body, input };
}

/** The item `id` names (a bare reasoning item for a reasoning one), or a 404 naming `param`. */
async function resolve(
  id: string,
  param: string,
  turn: (responseId: string) => Promise<StoredTurn | undefined>,
  asked: Map<string, unknown>,
): Promise<ResponsesInputItem> {
  for (const responseId of candidateResponses(id)) {
    if (!asked.has(responseId) && asked.size >= MAX_REFERENCED_RESPONSES)
      throw new AgentbusError(
        'invalid_request',
        `${param}: item_reference items may name items of at most ${MAX_REFERENCED_RESPONSES} responses per request.`,
        { param },
      );
    const stored = await turn(responseId);
    if (stored === undefined) continue;
    if (id.startsWith('rs_')) return { type: 'reasoning', id };
    const item = itemsOf(stored).find((candidate) => candidate.id === id);
    if (item) return item;
  }
  throw new AgentbusError(
    'item_not_found',
    `No item "${id.slice(0, 200)}" exists in this API key's stored responses.`,
    {
      param,
    },
  );
}
