import type { ErrorObject } from 'ajv';
import { chatRequestSchema, type ChatRequest } from './chat-request.schema.js';
import { replyFrameSchema, type ReplyFrame } from './reply-frames.schema.js';
import { cancelRequestSchema, type CancelRequest } from './cancel-request.schema.js';
import { workerBeatSchema, type WorkerBeat } from './worker-beat.schema.js';
import { cachedAnswerSchema, type CachedAnswer } from './cached-answer.schema.js';
import { deliveryReceiptSchema, type DeliveryReceipt } from './delivery-receipt.schema.js';
import {
  memoryLastReplySchema,
  memoryLastRequestSchema,
  type MemoryLastReply,
  type MemoryLastRequest,
} from './memory-query.schema.js';
import {
  memoryResponseReplySchema,
  memoryResponseRequestSchema,
  type MemoryResponseReply,
  type MemoryResponseRequest,
} from './memory-response.schema.js';
import { embedReplySchema, embedRequestSchema, type EmbedReply, type EmbedRequest } from './embed.schema.js';
import { speechFrameSchema, speechRequestSchema, type SpeechFrame, type SpeechRequest } from './speech.schema.js';
import {
  transcriptionFrameSchema,
  transcriptionRequestSchema,
  transcriptionUploadSchema,
  type TranscriptionFrame,
  type TranscriptionRequest,
  type TranscriptionUpload,
} from './transcription.schema.js';
import { AgentbusError } from './errors.js';
import { compiledOnUse as lazily } from './lazy-validator.js';
import { ownSchemaAjv } from './ajv.js';

// One ajv instance for the whole bus contract; each validator is compiled on first use (a process
// uses a few of them; see lazy-validator.ts for why).
// `discriminator` lets ajv pick the frame schema by `type` and report errors against it alone.
const ajv = ownSchemaAjv({ allErrors: false, strict: true, discriminator: true, verbose: true });
const compiledOnUse = <T>(schema: object) => lazily<T>(() => ajv.compile<T>(schema));

const validateChatRequest = compiledOnUse<ChatRequest>(chatRequestSchema);
const validateReplyFrame = compiledOnUse<ReplyFrame>(replyFrameSchema);
const validateCancelRequest = compiledOnUse<CancelRequest>(cancelRequestSchema);
const validateWorkerBeat = compiledOnUse<WorkerBeat>(workerBeatSchema);
const validateMemoryLastRequest = compiledOnUse<MemoryLastRequest>(memoryLastRequestSchema);
const validateMemoryLastReply = compiledOnUse<MemoryLastReply>(memoryLastReplySchema);
const validateMemoryResponseRequest = compiledOnUse<MemoryResponseRequest>(memoryResponseRequestSchema);
const validateMemoryResponseReply = compiledOnUse<MemoryResponseReply>(memoryResponseReplySchema);
const validateEmbedRequest = compiledOnUse<EmbedRequest>(embedRequestSchema);
const validateEmbedReply = compiledOnUse<EmbedReply>(embedReplySchema);
const validateSpeechRequest = compiledOnUse<SpeechRequest>(speechRequestSchema);
const validateSpeechFrame = compiledOnUse<SpeechFrame>(speechFrameSchema);
const validateTranscriptionRequest = compiledOnUse<TranscriptionRequest>(transcriptionRequestSchema);
const validateTranscriptionUpload = compiledOnUse<TranscriptionUpload>(transcriptionUploadSchema);
const validateTranscriptionFrame = compiledOnUse<TranscriptionFrame>(transcriptionFrameSchema);
const validateCachedAnswer = compiledOnUse<CachedAnswer>(cachedAnswerSchema);
const validateDeliveryReceipt = compiledOnUse<DeliveryReceipt>(deliveryReceiptSchema);

/**
 * Turns an ajv instance path (`/messages/0/content`) plus a missing property into the
 * OpenAI-style `param` (`messages[0].content`).
 */
export function paramFromAjvError(error: ErrorObject): string | null {
  const parts = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (error.keyword === 'required' && typeof error.params['missingProperty'] === 'string')
    parts.push(error.params['missingProperty']);
  if (error.keyword === 'additionalProperties' && typeof error.params['additionalProperty'] === 'string')
    parts.push(error.params['additionalProperty']);
  let param = '';
  for (const part of parts) param += /^\d+$/.test(part) ? `[${part}]` : param ? `.${part}` : part;
  return param || null;
}

function deepest(errors: readonly ErrorObject[]): ErrorObject | undefined {
  return [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
}

/** The forms of an anyOf/oneOf (by index) that `errors` come from; one of its own for an error outside it. */
function formsOf(errors: readonly ErrorObject[], alternativesPath: string): Set<string> {
  const prefix = `${alternativesPath}/`;
  return new Set(
    errors.map((e) =>
      e.schemaPath.startsWith(prefix) ? e.schemaPath.slice(prefix.length).split('/')[0]! : e.schemaPath,
    ),
  );
}

/**
 * A one-line, human message for an ajv failure, naming the field. When a value matched none of
 * several allowed forms (anyOf/oneOf), ajv lists one error per form; the summary error, with
 * the schema's `description` (validators compiled with `verbose`), says more than the first.
 */
export function messageFromAjvErrors(
  errors: readonly ErrorObject[] | null | undefined,
  subject: string,
): { message: string; param: string | null } {
  const mismatch = errors?.find(otherKind);
  if (mismatch) {
    const param = paramFromAjvError({ ...mismatch, keyword: 'type', instancePath: `${mismatch.instancePath}/type` });
    const { type } = mismatch.data as { type: string };
    const allowed = tagOf(mismatch)!
      .map((value) => JSON.stringify(value))
      .join(' or ');
    return { message: `${param} ${JSON.stringify(type).slice(0, 100)} is not supported: it must be ${allowed}`, param };
  }
  const alternatives = errors?.find((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  // ajv reports the alternatives' own errors before their summary. Inside the value, a rule a form
  // broke (a negative token id) names the key at fault, not the list of allowed forms.
  const below = alternatives
    ? (errors ?? []).filter((e) => e.instancePath.startsWith(`${alternatives.instancePath}/`))
    : [];
  const rule = deepest(below.filter((e) => !FORM_KEYWORDS.has(e.keyword)));
  if (rule) return messageFromAjvErrors([rule], subject);
  // A value of an allowed kind that breaks that kind's own rule (an empty array where one item is
  // the least, 2,049 strings where 2,048 are the most): that rule, not an item another form wants.
  const kindRule =
    alternatives && errors?.find((e) => e.instancePath === alternatives.instancePath && !FORM_KEYWORDS.has(e.keyword));
  if (kindRule) return messageFromAjvErrors([kindRule], subject);
  // A value of the right kind (an array of parts) that one form failed inside: the key at fault.
  // When several forms failed inside, each on its own type ([1.5] is no string, no token id, no
  // token array), the value fits none of them: the list of forms says so.
  if (alternatives && below.length > 0 && formsOf(below, alternatives.schemaPath).size === 1)
    return messageFromAjvErrors([deepest(below)!], subject);
  if (alternatives) {
    const param = paramFromAjvError(alternatives);
    const description = (alternatives.parentSchema as { description?: string } | undefined)?.description;
    return { message: `${param ?? subject} must be ${description ?? 'one of the allowed forms'}`, param };
  }
  const first = errors?.[0];
  if (!first) return { message: `${subject} is invalid`, param: null };
  const param = paramFromAjvError(first);
  // A rule on an object's keys (propertyNames) is about the key, which ajv names apart.
  const key = first.propertyName === undefined ? '' : ` key "${first.propertyName.slice(0, 100)}"`;
  return { message: `${param ?? subject}${key} ${detailOf(first)}`, param };
}

/** The values an object's `type` tag may take in the schema of `error` (verbose errors), if it has one. */
function tagOf(error: ErrorObject): unknown[] | undefined {
  const tag = (error.parentSchema as { properties?: { type?: { const?: unknown; enum?: unknown[] } } } | undefined)
    ?.properties?.type;
  if (tag?.const !== undefined) return [tag.const];
  return Array.isArray(tag?.enum) ? tag.enum : undefined;
}

/**
 * A field missing from an object whose `type` tag names a kind the schema does not have (a tool of
 * type "custom", a tool_choice of type "allowed_tools"): the kind is the fault, not the field.
 */
function otherKind(error: ErrorObject): boolean {
  if (error.keyword !== 'required') return false;
  const data = error.data as { type?: unknown } | undefined;
  const allowed = tagOf(error);
  return typeof data?.type === 'string' && allowed !== undefined && !allowed.includes(data.type);
}

// What tells the allowed forms of an anyOf/oneOf apart, rather than a rule within one form.
const FORM_KEYWORDS = new Set(['type', 'enum', 'const', 'anyOf', 'oneOf', 'discriminator', 'if', 'not']);

const A_TYPE: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  null: 'null',
};
const plural = (count: unknown, one: string, many = `${one}s`) => `${String(count)} ${count === 1 ? one : many}`;
// int64's largest, 2^63 - 1, is no double: the schema's bound (and JSON.parse) read it as 2^63, named here as meant.
const INT64_MAX_AS_DOUBLE = 2 ** 63;
// A bound beyond 2^53 in all its digits (seed's int64 range), not as 9223372036854776000.
const boundText = (limit: unknown) => {
  if (limit === INT64_MAX_AS_DOUBLE) return '9223372036854775807';
  return typeof limit === 'number' && Number.isInteger(limit) && !Number.isSafeInteger(limit)
    ? BigInt(limit).toString()
    : String(limit);
};

/** What is wrong with the value, in words rather than ajv's ("must be integer,null", "must NOT have…"). */
function detailOf(error: ErrorObject): string {
  const { params } = error;
  const limit: unknown = params['limit'];
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not allowed';
    case 'enum':
      return `must be one of: ${(params['allowedValues'] as unknown[]).map(String).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(params['allowedValue'])}`;
    case 'type': {
      const types = String(params['type']).split(',');
      return `must be ${types.map((type) => A_TYPE[type] ?? type).join(' or ')}`;
    }
    case 'minimum':
      return `must be at least ${boundText(limit)}`;
    case 'maximum':
      return `must be at most ${boundText(limit)}`;
    case 'exclusiveMinimum':
      return `must be greater than ${boundText(limit)}`;
    case 'exclusiveMaximum':
      return `must be less than ${boundText(limit)}`;
    case 'minItems':
      return `must have at least ${plural(limit, 'item')}`;
    case 'maxItems':
      return `must have at most ${plural(limit, 'item')}`;
    case 'minLength':
      return `must be at least ${plural(limit, 'character')} long`;
    case 'maxLength':
      return `must be at most ${plural(limit, 'character')} long`;
    case 'minProperties':
      return `must have at least ${plural(limit, 'property', 'properties')}`;
    case 'maxProperties':
      return `must have at most ${plural(limit, 'property', 'properties')}`;
    case 'uniqueItems':
      return 'must not hold the same item twice';
    default:
      return error.message ?? 'is invalid';
  }
}

/** Validates a decoded envelope; throws `invalid_envelope` naming the field at fault. */
export function assertChatRequest(value: unknown): ChatRequest {
  if (validateChatRequest(value)) return value;
  const { message, param } = messageFromAjvErrors(validateChatRequest.errors, 'chat request');
  throw new AgentbusError('invalid_envelope', `invalid chat request envelope: ${message}`, { param });
}

/** Validates a decoded reply frame; throws `stream_protocol_error` naming the field at fault. */
export function assertReplyFrame(value: unknown): ReplyFrame {
  if (validateReplyFrame(value)) return value;
  const { message } = messageFromAjvErrors(validateReplyFrame.errors, 'reply frame');
  throw new AgentbusError('stream_protocol_error', `invalid reply frame: ${message}`);
}

/** Validates a decoded cancel request; throws `invalid_envelope`. */
export function assertCancelRequest(value: unknown): CancelRequest {
  if (validateCancelRequest(value)) return value;
  const { message, param } = messageFromAjvErrors(validateCancelRequest.errors, 'cancel request');
  throw new AgentbusError('invalid_envelope', `invalid cancel request: ${message}`, { param });
}

/** Validates a decoded worker beat; throws `invalid_envelope`. */
export function assertWorkerBeat(value: unknown): WorkerBeat {
  if (validateWorkerBeat(value)) return value;
  const { message, param } = messageFromAjvErrors(validateWorkerBeat.errors, 'worker beat');
  throw new AgentbusError('invalid_envelope', `invalid worker beat: ${message}`, { param });
}

/** Validates a decoded memory query; throws `invalid_envelope` naming the field at fault. */
export function assertMemoryLastRequest(value: unknown): MemoryLastRequest {
  if (validateMemoryLastRequest(value)) return value;
  const { message, param } = messageFromAjvErrors(validateMemoryLastRequest.errors, 'memory query');
  throw new AgentbusError('invalid_envelope', `invalid memory query: ${message}`, { param });
}

/** Validates a decoded memory query reply; throws `stream_protocol_error`. */
export function assertMemoryLastReply(value: unknown): MemoryLastReply {
  if (validateMemoryLastReply(value)) return value;
  const { message } = messageFromAjvErrors(validateMemoryLastReply.errors, 'memory reply');
  throw new AgentbusError('stream_protocol_error', `invalid memory query reply: ${message}`);
}

/** Validates a decoded stored-response query; throws `invalid_envelope` naming the field at fault. */
export function assertMemoryResponseRequest(value: unknown): MemoryResponseRequest {
  if (validateMemoryResponseRequest(value)) return value;
  const { message, param } = messageFromAjvErrors(validateMemoryResponseRequest.errors, 'response query');
  throw new AgentbusError('invalid_envelope', `invalid response query: ${message}`, { param });
}

/** Validates a decoded stored-response reply; throws `stream_protocol_error`. */
export function assertMemoryResponseReply(value: unknown): MemoryResponseReply {
  if (validateMemoryResponseReply(value)) return value;
  const { message } = messageFromAjvErrors(validateMemoryResponseReply.errors, 'response reply');
  throw new AgentbusError('stream_protocol_error', `invalid response query reply: ${message}`);
}

/** Validates a decoded embed request; throws `invalid_envelope` naming the field at fault. */
export function assertEmbedRequest(value: unknown): EmbedRequest {
  if (validateEmbedRequest(value)) return value;
  const { message, param } = messageFromAjvErrors(validateEmbedRequest.errors, 'embed request');
  throw new AgentbusError('invalid_envelope', `invalid embed request: ${message}`, { param });
}

/** Validates a decoded embed reply; throws `stream_protocol_error`. */
export function assertEmbedReply(value: unknown): EmbedReply {
  if (validateEmbedReply(value)) return value;
  const { message } = messageFromAjvErrors(validateEmbedReply.errors, 'embed reply');
  throw new AgentbusError('stream_protocol_error', `invalid embed reply: ${message}`);
}

/** Validates a decoded delivery receipt; throws `stream_protocol_error`. */
export function assertDeliveryReceipt(value: unknown): DeliveryReceipt {
  if (validateDeliveryReceipt(value)) return value;
  const { message } = messageFromAjvErrors(validateDeliveryReceipt.errors, 'delivery receipt');
  throw new AgentbusError('stream_protocol_error', `invalid delivery receipt: ${message}`);
}

/** True when `value` is a valid envelope (no throw), for tests and tooling. */
export function isChatRequest(value: unknown): value is ChatRequest {
  return validateChatRequest(value);
}

/** True when `value` is a valid embed request (no throw), for tooling (replay). */
export function isEmbedRequest(value: unknown): value is EmbedRequest {
  return validateEmbedRequest(value);
}

/** True when `value` is a valid reply frame (no throw), for tests and tooling. */
export function isReplyFrame(value: unknown): value is ReplyFrame {
  return validateReplyFrame(value);
}

/** True when `value` is a well-formed cached answer (it comes from the network: anything else is a miss). */
export function isCachedAnswer(value: unknown): value is CachedAnswer {
  return validateCachedAnswer(value);
}

/** Validates a decoded speech request; throws `invalid_envelope` naming the field at fault. */
export function assertSpeechRequest(value: unknown): SpeechRequest {
  if (validateSpeechRequest(value)) return value;
  const { message, param } = messageFromAjvErrors(validateSpeechRequest.errors, 'speech request');
  throw new AgentbusError('invalid_envelope', `invalid speech request: ${message}`, { param });
}

/** Validates a decoded speech frame; throws `stream_protocol_error`. */
export function assertSpeechFrame(value: unknown): SpeechFrame {
  if (validateSpeechFrame(value)) return value;
  const { message } = messageFromAjvErrors(validateSpeechFrame.errors, 'speech frame');
  throw new AgentbusError('stream_protocol_error', `invalid speech frame: ${message}`);
}

/** Validates a decoded transcription request; throws `invalid_envelope` naming the field at fault. */
export function assertTranscriptionRequest(value: unknown): TranscriptionRequest {
  if (validateTranscriptionRequest(value)) return value;
  const { message, param } = messageFromAjvErrors(validateTranscriptionRequest.errors, 'transcription request');
  throw new AgentbusError('invalid_envelope', `invalid transcription request: ${message}`, { param });
}

/** Validates a decoded upload frame (gateway → worker); throws `invalid_envelope`. */
export function assertTranscriptionUpload(value: unknown): TranscriptionUpload {
  if (validateTranscriptionUpload(value)) return value;
  const { message } = messageFromAjvErrors(validateTranscriptionUpload.errors, 'transcription upload frame');
  throw new AgentbusError('invalid_envelope', `invalid transcription upload frame: ${message}`);
}

/** Validates a decoded transcription reply frame; throws `stream_protocol_error`. */
export function assertTranscriptionFrame(value: unknown): TranscriptionFrame {
  if (validateTranscriptionFrame(value)) return value;
  const { message } = messageFromAjvErrors(validateTranscriptionFrame.errors, 'transcription frame');
  throw new AgentbusError('stream_protocol_error', `invalid transcription frame: ${message}`);
}

/** True when `value` is a valid speech request (no throw), for tooling (replay tells speech records apart). */
export function isSpeechRequest(value: unknown): value is SpeechRequest {
  return validateSpeechRequest(value);
}
