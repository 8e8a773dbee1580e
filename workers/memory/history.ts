import type { Kysely } from 'kysely';
import { cutShort, type ChatMessage, type ToolCall } from '../../bus-schemas/index.js';
import { oneTurnPerRequest } from './fan-out-turns.js';
import { prepareQuery } from './prepared-query.js';
import { ofRequest, requestParts, requestRoot, type RequestParts } from './request-parts.js';
import { replayableHistory } from './replayable-history.js';
import type { MemoryDatabase } from './schema.js';

/** Stored turns replayed in front of a new request. */
export interface History {
  /** Oldest first. */
  readonly messages: readonly ChatMessage[];
  /** A turn among them was private, so the new request must stay on local providers too. */
  readonly private: boolean;
  /** Calls of the last turn left out because a token limit or a filter cut them ("length", "content_filter"). */
  readonly cutCalls: readonly string[];
}

/** What a request without stored history (new conversation, store: false, client-sent history) gets. */
export const NO_HISTORY: History = Object.freeze({
  messages: Object.freeze([]),
  private: false,
  cutCalls: Object.freeze([]),
});

/** The client request asking (see requestRoot), and its fan-out parts as a range (see partRange). */
interface HistoryWindow extends RequestParts {
  sessionId: string;
  limit: number;
}

const REPLAYED = [
  'request_id',
  'agent',
  'input_messages',
  'assistant_response',
  'tool_calls',
  'finish_reason',
  'private',
] as const;

const lastTurnsQuery = (db: Kysely<MemoryDatabase>, p: HistoryWindow) =>
  db
    .selectFrom('turns')
    .select(REPLAYED)
    .where('session_id', '=', p.sessionId)
    // Only what clients received, in the order they received it.
    .where('state', '=', 'committed')
    .where((eb) => eb.not(ofRequest(eb, p)))
    .orderBy('commit_seq', 'desc')
    .limit(p.limit);

const lastTurnsBefore = prepareQuery(lastTurnsQuery);

// The same, for the turns a branch started after: those committed before its first turn.
const lastTurnsBelow = prepareQuery((db: Kysely<MemoryDatabase>, p: HistoryWindow & { below: number }) =>
  lastTurnsQuery(db, p).where('commit_seq', '<', p.below),
);

// The turns of one request on a branch: its own and its fan-out parts', newest first, each with
// the link to the response the request continued.
const branchRequest = prepareQuery((db: Kysely<MemoryDatabase>, p: RequestParts & { sessionId: string }) =>
  db
    .selectFrom('turns')
    .select([...REPLAYED, 'previous_response_id', 'commit_seq'])
    .where('session_id', '=', p.sessionId)
    .where('state', '=', 'committed')
    .where((eb) => ofRequest(eb, p))
    .orderBy('commit_seq', 'desc'),
);

type ReplayedRow = Awaited<ReturnType<typeof lastTurnsBefore.execute>>['rows'][number];

/**
 * The turns of the branch that ends at `from`, newest first: `from`'s request (with its fan-out
 * parts), the response it continued (`previous_response_id`), and so on back, at most `limit`
 * turns; then, where the branch began from the conversation's history (no link, or a link naming
 * the conversation itself), that history before its first turn. A link to a deleted response
 * ends it. Empty when `from` names no committed turn of the session.
 */
async function branchTurns(db: Kysely<MemoryDatabase>, window: HistoryWindow, from: string): Promise<ReplayedRow[]> {
  const { sessionId, limit } = window;
  const branch: ReplayedRow[] = [];
  let link: string | null = from;
  let firstSeq: number | null = null;
  const seen = new Set<string>();
  while (link !== null && link !== sessionId && branch.length < limit && !seen.has(requestRoot(link))) {
    const root = requestRoot(link);
    seen.add(root);
    const { rows } = await branchRequest.execute(db, { sessionId, ...requestParts(root) });
    if (rows.length === 0) return branch;
    branch.push(...rows.slice(0, limit - branch.length));
    // The parts of one request continued the same response; a link of its own is no step back.
    link = rows.map((row) => row.previous_response_id).find((l) => l === null || requestRoot(l) !== root) ?? null;
    firstSeq = rows.at(-1)!.commit_seq;
  }
  const fromHistory = link === null || link === sessionId;
  if (!fromHistory || branch.length >= limit || firstSeq === null) return branch;
  const before = await lastTurnsBelow.execute(db, { ...window, below: firstSeq, limit: limit - branch.length });
  return [...branch, ...before.rows];
}

/**
 * The last `limit` turns of a session as chat messages, ready to put in front of the request
 * `requestId`. The turns of that same client request are left out: the other parts of a
 * fan-out (`R`, `R.<agent>`, `R.aggregate`) answer the same question side by side, and are not
 * earlier conversation. With `branchFrom` (the Responses API's `previous_response_id`), the turns
 * of the branch that ends at that response, as OpenAI replays it: a response answered again, or
 * one later turns went past, does not see what came after it. The parts of an earlier fan-out are
 * replayed as one exchange: its question once, then the answer its client got (fan-out-turns.ts).
 */
export async function loadHistory(
  db: Kysely<MemoryDatabase>,
  sessionId: string,
  limit: number,
  requestId: string,
  branchFrom?: string,
): Promise<History> {
  if (limit <= 0) return NO_HISTORY;
  const window = { sessionId, ...requestParts(requestRoot(requestId)), limit };
  const branch = branchFrom === undefined ? [] : await branchTurns(db, window, branchFrom);
  const rows = branch.length > 0 ? branch : (await lastTurnsBefore.execute(db, window)).rows;
  // Oldest first; a fan-out as the one exchange its client had.
  const turns = oneTurnPerRequest(rows.reverse()).map((row) => ({ row, calls: callsOf(row) }));
  const messages = turns.flatMap(({ row, calls }) => [
    ...(JSON.parse(row.input_messages) as ChatMessage[]),
    assistantMessage(row.assistant_response, calls.kept),
  ]);
  return {
    messages: replayableHistory(messages[0]?.role === 'tool' ? fromFirstQuestion(messages) : messages),
    private: rows.some((row) => row.private === 1),
    cutCalls: turns.at(-1)?.calls.cut.map((call) => call.id) ?? [],
  };
}

/**
 * History that opens with tool results continues a turn it does not hold — the window cut the
 * conversation after a turn that called tools, or that turn was deleted or is off the branch: the
 * results answer nothing and go, and the answer that followed them would come right after the
 * system prompt, which strict chat templates refuse (roles alternate from the user's). Such history
 * starts at its first user or system message instead; one holding none is kept as it is.
 */
function fromFirstQuestion(messages: ChatMessage[]): ChatMessage[] {
  const first = messages.findIndex((message) => message.role === 'user' || message.role === 'system');
  return first > 0 ? messages.slice(first) : messages;
}

/** Whether a call's arguments are a JSON object, as a whole call's are. */
function isWhole(call: ToolCall): boolean {
  try {
    const args: unknown = JSON.parse(call.function.arguments);
    return typeof args === 'object' && args !== null && !Array.isArray(args);
  } catch {
    return false;
  }
}

/**
 * The calls of a stored answer, split: those that go on in the conversation, and those a token limit or
 * a content filter cut (finish_reason "length" or "content_filter", the last call's arguments partial). A
 * cut call is not one a result could answer, and a backend would refuse its arguments: the conversation
 * goes on without it.
 */
function callsOf(row: { tool_calls: string | null; finish_reason: string }): { kept: ToolCall[]; cut: ToolCall[] } {
  const calls = row.tool_calls ? (JSON.parse(row.tool_calls) as ToolCall[]) : [];
  if (!cutShort(row.finish_reason)) return { kept: calls, cut: [] };
  return { kept: calls.filter(isWhole), cut: calls.filter((call) => !isWhole(call)) };
}

function assistantMessage(content: string, calls: ToolCall[]): ChatMessage {
  return calls.length > 0 ? { role: 'assistant', content, tool_calls: calls } : { role: 'assistant', content };
}
