import type { Generated } from 'kysely';

/** Tables of the memory database, as Kysely sees them. Migrations define the same columns. */
export interface MemoryDatabase {
  sessions: SessionsTable;
  turns: TurnsTable;
  memory_probe: MemoryProbeTable;
  memory_identity: MemoryIdentityTable;
}

/** One row (id 1) naming the database, reported by its workers (memory/identity.ts). */
export interface MemoryIdentityTable {
  id: number;
  /** A random UUID, made once with the database. */
  database_id: string;
  created_at: string;
}

/** One row the workers rewrite to check that the database can be written (memory/health.ts). */
export interface MemoryProbeTable {
  id: number;
  checked_at: string;
  worker: string;
}

export interface SessionsTable {
  /** Conversation id (gateway-generated `conv_…` or a client-chosen id). */
  id: string;
  /** API key id that created the session; only it may continue the session. */
  tenant: string;
  /** Agent of the first turn. */
  agent: string;
  created_at: string;
  updated_at: string;
  turn_count: number;
}

export interface TurnsTable {
  id: Generated<number>;
  /** Completion id; unique, so a redelivered request never writes twice. */
  request_id: string;
  session_id: string;
  agent: string;
  model: string;
  /** Text of the user messages of this turn (for reading and search). */
  user_input: string;
  /** The messages this turn added (JSON array of {role, content}), replayed as history. */
  input_messages: string;
  assistant_response: string;
  /** JSON array of the answer's OpenAI tool calls, or NULL. */
  tool_calls: string | null;
  finish_reason: string;
  /** 0 or 1: answered from the response cache. */
  cached: number;
  prompt_tokens: number;
  completion_tokens: number;
  duration_ms: number;
  created_at: string;
  /** The client's end-user id (OpenAI `user`), or NULL. */
  end_user: string | null;
  /** JSON object of the client's `metadata`, or NULL. */
  metadata: string | null;
  /**
   * 0 or 1: the turn was private (kept on local providers), so a later turn that carries it
   * as history is private too.
   */
  private: Generated<number>;
  /** The Responses API's previous_response_id the turn was asked with, or NULL. */
  previous_response_id: string | null;
  /**
   * `pending` from the answer until the requester confirms the client received it whole, then
   * `committed`; only committed turns are history. A pending turn that is not confirmed is deleted.
   */
  state: Generated<TurnState>;
  /** The turn's place in its session's history, given at commit (delivery order); NULL while pending. */
  commit_seq: number | null;
  /**
   * A pending turn's writer waits for its receipt until then (ms since the epoch; PostgreSQL reads
   * it as text): still pending after it, its worker died, and no request waits for it to settle.
   * Kept once committed (read only while pending); NULL for a turn committed at once (protocol v1)
   * or written before the column.
   */
  pending_until: number | null;
  /** The attempt of its request that wrote it (envelope `attempt`); NULL for the first. */
  attempt: number | null;
  /**
   * When the gateway accepted its request (ms since the epoch; PostgreSQL reads it as text): the
   * created_at its response was answered with. NULL for a turn written before the column.
   */
  requested_at: number | null;
  /** The model's refusal (OpenAI's `refusal`), also in assistant_response; NULL when it did not refuse. */
  refusal: string | null;
}

export type TurnState = 'pending' | 'committed';
