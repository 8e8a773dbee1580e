import type { ChatMessage, ResponseFormat, ToolChoice, ToolDefinition } from '../bus-schemas/index.js';
import type { Redactor } from './redaction.js';

/** Maps one string; `key` is the object key it is the value of, when it is one. */
export type TextMap = (text: string, key?: string) => string;

/** The parts of a chat request a provider receives, in the worker's and the gateway's names. */
export interface RequestText {
  messages: readonly ChatMessage[];
  tools?: readonly ToolDefinition[] | undefined;
  toolChoice?: ToolChoice | undefined;
  responseFormat?: ResponseFormat | undefined;
  /** Stop sequences (`options.stop`). */
  stop?: readonly string[] | undefined;
}

/**
 * Deeper than any body the gateway accepts (MAX_JSON_DEPTH is at most 1000); JSON text inside a
 * string (tool-call arguments) is not bound by that check, and the walk must not overflow.
 */
const MAX_WALK_DEPTH = 1024;

class TooDeep extends Error {}

/**
 * `value` (parsed JSON) with every string — keys too — mapped; the same object when nothing
 * changed. Objects are rebuilt with `Object.fromEntries`, so a `__proto__` key stays a key.
 */
export function mapJsonStrings(value: unknown, map: TextMap, key?: string, depth = 0): unknown {
  if (typeof value === 'string') return map(value, key);
  if (depth > MAX_WALK_DEPTH) throw new TooDeep('JSON nested too deeply to walk');
  if (Array.isArray(value)) {
    const items = value.map((item) => mapJsonStrings(item, map, undefined, depth + 1));
    return items.every((item, i) => item === value[i]) ? value : items;
  }
  if (typeof value !== 'object' || value === null) return value;
  let changed = false;
  const entries = Object.entries(value).map(([name, item]) => {
    const mapped: [string, unknown] = [map(name), mapJsonStrings(item, map, name, depth + 1)];
    changed ||= mapped[0] !== name || mapped[1] !== item;
    return mapped;
  });
  return changed ? Object.fromEntries(entries) : value;
}

/**
 * Tool-call arguments (JSON text) mapped string value by string value, so the result is still
 * valid JSON; text that is not JSON (or nested too deeply to walk) is mapped as a whole.
 * Unchanged arguments keep their bytes.
 */
export function mapJsonText(text: string, map: TextMap): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return map(text);
  }
  let mapped: unknown;
  try {
    mapped = mapJsonStrings(parsed, map);
  } catch (err) {
    if (err instanceof TooDeep) return map(text);
    throw err;
  }
  return mapped === parsed ? text : JSON.stringify(mapped);
}

function mapMessage(message: ChatMessage, map: TextMap): ChatMessage {
  // Images are pixels, not text: no pattern reads base64.
  const out: Record<string, unknown> = { ...message, content: map(message.content) };
  if ('name' in message && message.name !== undefined) out['name'] = map(message.name);
  if (message.role === 'tool') out['tool_call_id'] = map(message.tool_call_id);
  if (message.role === 'assistant' && message.tool_calls) {
    out['tool_calls'] = message.tool_calls.map((call) => ({
      ...call,
      id: map(call.id),
      function: { name: map(call.function.name), arguments: mapJsonText(call.function.arguments, map) },
    }));
  }
  const same = Object.keys(out).every((field) => out[field] === (message as Record<string, unknown>)[field]);
  return same ? message : (out as ChatMessage);
}

/**
 * Every string of the request that a provider receives — message text and names, tool calls'
 * ids, names and arguments, tool definitions (descriptions, schemas, defaults), `tool_choice`,
 * `response_format`, stop sequences — mapped by `map`. Unchanged parts keep their identity.
 */
export function mapRequestText<T extends RequestText>(request: T, map: TextMap): T {
  const json = <V>(value: V): V => mapJsonStrings(value, map) as V;
  const messages = request.messages.map((message) => mapMessage(message, map));
  return {
    ...request,
    messages: messages.every((message, i) => message === request.messages[i]) ? request.messages : messages,
    ...(request.tools ? { tools: json(request.tools) } : {}),
    ...(request.toolChoice !== undefined ? { toolChoice: json(request.toolChoice) } : {}),
    ...(request.responseFormat ? { responseFormat: json(request.responseFormat) } : {}),
    ...(request.stop ? { stop: json(request.stop) } : {}),
  };
}

/** `key: value` for a string in an object: `{"password": "hunter22"}` holds a secret only as a pair. */
const pairOf = (text: string, key: string | undefined) => (key === undefined ? undefined : `${key}: ${text}`);

/** Names of the patterns matching any string a provider would receive of `request`. */
export function secretsInRequest(redactor: Redactor, request: RequestText): string[] {
  const found = new Set<string>();
  mapRequestText(request, (text, key) => {
    for (const name of redactor.detect(text)) found.add(name);
    const pair = pairOf(text, key);
    if (pair !== undefined) for (const name of redactor.detect(pair)) found.add(name);
    return text;
  });
  return [...found];
}

/**
 * `request` with every secret masked, in every string a provider would receive. Inside JSON
 * (tool-call arguments, schemas) string values are masked one by one, so the JSON stays valid;
 * a value that is a secret only with its key (`"password": "hunter22"`) is masked whole.
 */
export function redactRequest<T extends RequestText>(redactor: Redactor, request: T): T {
  return mapRequestText(request, (text, key) => {
    const masked = redactor.redact(text);
    const pair = pairOf(text, key);
    if (masked !== text || pair === undefined) return masked;
    const [name] = redactor.detect(pair);
    return name === undefined ? text : `[REDACTED:${name}]`;
  });
}
