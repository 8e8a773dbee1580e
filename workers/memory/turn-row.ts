import type { Insertable } from 'kysely';
import type { ChatMessage, ToolCall } from '../../bus-schemas/index.js';
import type { TurnsTable } from './schema.js';

/** One answered request, as the worker stores it. */
export interface NewTurn {
  requestId: string;
  sessionId: string;
  tenant: string;
  agent: string;
  model: string;
  inputMessages: ChatMessage[];
  assistantResponse: string;
  toolCalls: ToolCall[];
  finishReason: string;
  cached: boolean;
  promptTokens: number;
  completionTokens: number;
  durationMs: number;
  endUser?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /** Kept on local providers: every later request that carries this turn as history is too. */
  private: boolean;
  /** The Responses API's previous_response_id, repeated by the stored response. */
  previousResponseId?: string | undefined;
  /** Written pending: until when (ms since the epoch) its writer waits for the receipt (`pending_until`). */
  pendingUntil?: number | undefined;
  /** The attempt of its request that answered it (the envelope's `attempt`), when not the first. */
  attempt?: number | undefined;
  /** When the gateway accepted the request (the envelope's `created_at`, ms since the epoch). */
  requestedAt?: number | undefined;
  /** The model's refusal (OpenAI's `refusal`): in `assistantResponse` too, kept apart. */
  refusal?: string | undefined;
}

/**
 * The columns of a new `turns` row that come from the turn, by name (the id is the database's;
 * `state` and `commit_seq` are set by how it is recorded).
 */
export type TurnRow = Required<Omit<Insertable<TurnsTable>, 'id' | 'state' | 'commit_seq'>>;

/**
 * Images are not kept: a base64 picture would make every later prompt of the conversation
 * carry it again, and the database grow by megabytes per turn. Follow-ups see the text.
 */
function withoutImages(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.map((message) => {
    if (message.role !== 'user' || !message.images) return message;
    const { images: _images, image_parts: _places, ...rest } = message;
    return rest;
  });
}

/**
 * A text column's value as both dialects keep it. toWellFormed: a lone UTF-16 surrogate (valid in
 * a JS string, and in JSON as an escape) has no UTF-8 form: the SQLite driver wrote its bytes as if
 * it had, and read them back as three U+FFFD; one U+FFFD, as the PostgreSQL driver writes it, is
 * what both keep. A NUL (U+0000, valid in JSON and SQLite) is refused by PostgreSQL in any text
 * (22021 "invalid byte sequence"), which failed the whole request: both keep U+FFFD for it too.
 * JSON columns keep the escapes.
 */
export const storedText = (text: string): string => text.toWellFormed().replaceAll('\u0000', '\uFFFD');

/** The row `turn` is stored as, written at `now` (ISO). */
export function turnRow(turn: NewTurn, now: string): TurnRow {
  return {
    request_id: turn.requestId,
    session_id: turn.sessionId,
    agent: turn.agent,
    model: turn.model,
    user_input: storedText(
      turn.inputMessages
        .filter((m) => m.role === 'user')
        .map((m) => m.content)
        .join('\n'),
    ),
    input_messages: JSON.stringify(withoutImages(turn.inputMessages)),
    assistant_response: storedText(turn.assistantResponse),
    tool_calls: turn.toolCalls.length > 0 ? JSON.stringify(turn.toolCalls) : null,
    finish_reason: turn.finishReason,
    cached: turn.cached ? 1 : 0,
    prompt_tokens: turn.promptTokens,
    completion_tokens: turn.completionTokens,
    duration_ms: turn.durationMs,
    created_at: now,
    end_user: turn.endUser === undefined ? null : storedText(turn.endUser),
    metadata: turn.metadata ? JSON.stringify(turn.metadata) : null,
    private: turn.private ? 1 : 0,
    previous_response_id: turn.previousResponseId ?? null,
    pending_until: turn.pendingUntil ?? null,
    attempt: turn.attempt ?? null,
    requested_at: turn.requestedAt ?? null,
    refusal: turn.refusal === undefined ? null : storedText(turn.refusal),
  };
}
