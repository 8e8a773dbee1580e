import type { ValidateFunction } from 'ajv';
import {
  AgentbusError,
  compiledOnUse,
  ID_PATTERN,
  messageFromAjvErrors,
  ownSchemaAjv,
} from '../../bus-schemas/index.js';
import { parseUntrustedJson } from '../http/parse-json.js';
import {
  CHAT_FIELDS_ON_RESPONSES,
  refuseOtherApiConversation,
  RESPONSES_FIELDS_ON_CHAT,
} from '../openai/other-api-fields.js';
import { CLIENT_FRAME_SCHEMAS, type ClientFrame } from './frames.schema.js';

type FrameType = keyof typeof CLIENT_FRAME_SCHEMAS;

// One validator per frame type, compiled once (on first use): an error then names the field of the frame the
// client meant to send, not the alternatives it did not. Strict like the bus contract, but
// without type coercion: "0.5" is not a temperature here either.
const ajv = ownSchemaAjv({ strict: true, allowUnionTypes: true, allErrors: false, verbose: true });
const validators = Object.fromEntries(
  Object.entries(CLIENT_FRAME_SCHEMAS).map(([type, schema]) => [type, compiledOnUse(() => ajv.compile(schema))]),
) as Record<FrameType, ValidateFunction<ClientFrame>>;
const FRAME_TYPES = Object.keys(CLIENT_FRAME_SCHEMAS) as FrameType[];
const REQUEST_ID = new RegExp(ID_PATTERN);

/**
 * A client frame that failed: the error to send, and the id it carried when usable. `startsRequest`
 * is false for a frame of a type that starts no request (auth, cancel, ping): its id names
 * another request, or none, so its error must never read as a request's terminal frame.
 */
export class FrameError extends Error {
  constructor(
    readonly error: AgentbusError,
    readonly id: string | null,
    readonly startsRequest = true,
  ) {
    super(error.message);
  }
}

/** Whether a frame of this type starts a request: an unknown type may be a mistyped one, so it counts. */
export function startsRequest(type: unknown): boolean {
  return type !== 'auth' && type !== 'cancel' && type !== 'ping';
}

/** The request id a frame carries, if it is a usable one: a bad frame's error still names it. */
function idOf(value: Record<string, unknown>): string | null {
  return typeof value['id'] === 'string' && REQUEST_ID.test(value['id']) ? value['id'] : null;
}

/** What is wrong with a frame's `type` that is not a string. */
function unusableType(type: unknown): string {
  if (type === undefined) return 'The frame has no "type"';
  const kind = type === null ? 'null' : Array.isArray(type) ? 'an array' : typeof type;
  return `The frame's "type" must be a string, not ${kind}`;
}

/**
 * Decodes and validates one client frame. Throws {@link FrameError} (never anything else):
 * binary or non-JSON data, nesting past `maxJsonDepth` (MAX_JSON_DEPTH), a `__proto__` key, an
 * unknown type, or a field that breaks the type's schema. The JSON is parsed as HTTP bodies are.
 */
export function parseClientFrame(data: Buffer | string, isBinary: boolean, maxJsonDepth: number): ClientFrame {
  if (isBinary)
    throw new FrameError(
      new AgentbusError('invalid_request', 'Frames are JSON text; binary frames are not accepted.'),
      null,
    );
  let value: unknown;
  try {
    value = parseUntrustedJson(typeof data === 'string' ? data : data.toString('utf8'), maxJsonDepth, 'frame');
  } catch (err) {
    throw new FrameError(err as AgentbusError, null);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FrameError(new AgentbusError('invalid_request', 'A frame must be a JSON object with a "type".'), null);
  }
  const record = value as Record<string, unknown>;
  const type = record['type'];
  if (typeof type !== 'string' || !(FRAME_TYPES as string[]).includes(type)) {
    const shown = typeof type === 'string' ? `Unknown frame type "${type.slice(0, 64)}"` : unusableType(type);
    throw new FrameError(
      new AgentbusError('invalid_request', `${shown}; expected one of: ${FRAME_TYPES.join(', ')}.`, { param: 'type' }),
      idOf(record),
    );
  }
  try {
    // Another API's conversation instead of this one's: named, before the schema's "is required".
    if (type === 'chat') refuseOtherApiConversation(record, 'messages', RESPONSES_FIELDS_ON_CHAT);
    if (type === 'response.create') refuseOtherApiConversation(record, 'input', CHAT_FIELDS_ON_RESPONSES);
  } catch (err) {
    throw new FrameError(err as AgentbusError, idOf(record), startsRequest(type));
  }
  const validate = validators[type as FrameType];
  if (validate(value)) return value;
  const { message, param } = messageFromAjvErrors(validate.errors, `${type} frame`);
  throw new FrameError(
    new AgentbusError('invalid_request', `Invalid ${type} frame: ${message}`, { param }),
    idOf(record),
    startsRequest(type),
  );
}

/**
 * A frame's `type` and usable `id`, read without the schema check (both undefined/null when it
 * is not a JSON object): enough to tag the answer to a frame refused before its checks.
 */
export function peekFrame(data: Buffer, isBinary: boolean, maxJsonDepth: number): { type?: string; id: string | null } {
  if (isBinary) return { id: null };
  let value: unknown;
  try {
    value = parseUntrustedJson(data.toString('utf8'), maxJsonDepth, 'frame');
  } catch {
    return { id: null };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { id: null };
  const record = value as Record<string, unknown>;
  return { ...(typeof record['type'] === 'string' ? { type: record['type'] } : {}), id: idOf(record) };
}
