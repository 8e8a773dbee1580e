import { createHash } from 'node:crypto';

/** Everything that decides what the model answers; two requests with equal parts share an answer. */
export interface CacheKeyParts {
  /** The API key's tenant id: answers are never shared across API keys. */
  tenant: string;
  agent: string;
  /** The backend model, not the public model name: an agent moved to another model must miss. */
  model: string;
  /** Sampling options; key order and `undefined` values do not matter, and absent equals `{}`. */
  options?: Readonly<Record<string, unknown>> | undefined;
  /** The messages exactly as the client sent them; order matters. */
  messages: readonly unknown[];
  /** Messages loaded from memory that the model also sees. */
  history?: unknown;
  tools?: unknown;
  tool_choice?: unknown;
  response_format?: unknown;
  /** OpenAI's `verbosity`: absent leaves the key as it was before the field existed. */
  verbosity?: unknown;
}

// Bumped when the key document changes, so old entries are never read with a new meaning.
const KEY_VERSION = 'agentbus-response-cache-v1';

/**
 * The cache key of a request: `<agent>.<sha256 hex of a canonical JSON of parts>`, a valid NATS
 * KV key. The agent comes first so that nats.conf can give a worker credential scoped to some
 * agents only their keys (`$KV.<bucket>.<agent>.>`): it cannot read or plant another's answers.
 */
export function cacheKey(parts: CacheKeyParts): string {
  const document = {
    v: KEY_VERSION,
    tenant: parts.tenant,
    agent: parts.agent,
    model: parts.model,
    options: parts.options ?? {},
    messages: parts.messages,
    history: parts.history,
    tools: parts.tools,
    tool_choice: parts.tool_choice,
    response_format: parts.response_format,
    verbosity: parts.verbosity,
  };
  return `${parts.agent}.${createHash('sha256').update(canonicalJson(document)).digest('hex')}`;
}

/**
 * JSON with object keys sorted at every depth and `undefined` members dropped; arrays keep
 * their order. Written out by hand because a rebuilt object would still list integer-like
 * keys first, whatever order they were inserted in.
 */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .sort()
      .filter((key) => record[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`);
    return `{${members.join(',')}}`;
  }
  // Primitives: JSON's own spelling (NaN and Infinity become null, as in JSON.stringify).
  return JSON.stringify(value) ?? 'null';
}
