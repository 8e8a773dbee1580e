import { AgentbusError } from './errors.js';
import type { ChatRequest } from './chat-request.schema.js';
import type { ReplyFrame } from './reply-frames.schema.js';
import type { CancelRequest } from './cancel-request.schema.js';
import type { WorkerBeat } from './worker-beat.schema.js';
import type { DeliveryReceipt } from './delivery-receipt.schema.js';
import type { EmbedReply, EmbedRequest } from './embed.schema.js';
import type { SpeechFrame, SpeechRequest } from './speech.schema.js';
import type { TranscriptionFrame, TranscriptionRequest, TranscriptionUpload } from './transcription.schema.js';
import type { MemoryLastReply, MemoryLastRequest } from './memory-query.schema.js';
import type { MemoryResponseReply, MemoryResponseRequest } from './memory-response.schema.js';
import {
  assertCancelRequest,
  assertChatRequest,
  assertDeliveryReceipt,
  assertEmbedReply,
  assertEmbedRequest,
  assertMemoryLastReply,
  assertMemoryLastRequest,
  assertMemoryResponseReply,
  assertMemoryResponseRequest,
  assertReplyFrame,
  assertSpeechFrame,
  assertSpeechRequest,
  assertTranscriptionFrame,
  assertTranscriptionRequest,
  assertTranscriptionUpload,
  assertWorkerBeat,
} from './validate.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes any bus document as UTF-8 JSON. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

function parseJson(bytes: Uint8Array, onError: (message: string) => AgentbusError): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw onError((err as Error).message);
  }
}

/** Decodes and validates a chat request envelope; throws `invalid_envelope`. */
export function decodeChatRequest(bytes: Uint8Array): ChatRequest {
  return assertChatRequest(
    parseJson(bytes, (m) => new AgentbusError('invalid_envelope', `chat request is not JSON: ${m}`)),
  );
}

/** Decodes and validates a cancel request; throws `invalid_envelope`. */
export function decodeCancelRequest(bytes: Uint8Array): CancelRequest {
  return assertCancelRequest(
    parseJson(bytes, (m) => new AgentbusError('invalid_envelope', `cancel request is not JSON: ${m}`)),
  );
}

/** Decodes and validates a worker's beat; throws `invalid_envelope`. */
export function decodeWorkerBeat(bytes: Uint8Array): WorkerBeat {
  return assertWorkerBeat(
    parseJson(bytes, (m) => new AgentbusError('invalid_envelope', `worker beat is not JSON: ${m}`)),
  );
}

/** Decodes and validates a reply frame; throws `stream_protocol_error`. */
export function decodeReplyFrame(bytes: Uint8Array): ReplyFrame {
  return assertReplyFrame(
    parseJson(bytes, (m) => new AgentbusError('stream_protocol_error', `reply frame is not JSON: ${m}`)),
  );
}

/** Decodes and validates a delivery receipt; throws `stream_protocol_error`. */
export function decodeDeliveryReceipt(bytes: Uint8Array): DeliveryReceipt {
  return assertDeliveryReceipt(
    parseJson(bytes, (m) => new AgentbusError('stream_protocol_error', `delivery receipt is not JSON: ${m}`)),
  );
}

/** Decodes and validates a memory query; throws `invalid_envelope`. */
export function decodeMemoryLastRequest(bytes: Uint8Array): MemoryLastRequest {
  return assertMemoryLastRequest(
    parseJson(bytes, (m) => new AgentbusError('invalid_envelope', `memory query is not JSON: ${m}`)),
  );
}

/** Decodes and validates the reply to a memory query; throws `stream_protocol_error`. */
export function decodeMemoryLastReply(bytes: Uint8Array): MemoryLastReply {
  return assertMemoryLastReply(
    parseJson(bytes, (m) => new AgentbusError('stream_protocol_error', `memory query reply is not JSON: ${m}`)),
  );
}

/** Decodes and validates a stored-response query; throws `invalid_envelope`. */
export function decodeMemoryResponseRequest(bytes: Uint8Array): MemoryResponseRequest {
  return assertMemoryResponseRequest(
    parseJson(bytes, (m) => new AgentbusError('invalid_envelope', `response query is not JSON: ${m}`)),
  );
}

/** Decodes and validates the reply to a stored-response query; throws `stream_protocol_error`. */
export function decodeMemoryResponseReply(bytes: Uint8Array): MemoryResponseReply {
  return assertMemoryResponseReply(
    parseJson(bytes, (m) => new AgentbusError('stream_protocol_error', `response query reply is not JSON: ${m}`)),
  );
}

/** Decodes and validates an embed request; throws `invalid_envelope`. */
export function decodeEmbedRequest(bytes: Uint8Array): EmbedRequest {
  return assertEmbedRequest(
    parseJson(bytes, (m) => new AgentbusError('invalid_envelope', `embed request is not JSON: ${m}`)),
  );
}

/** Decodes and validates the reply to an embed request; throws `stream_protocol_error`. */
export function decodeEmbedReply(bytes: Uint8Array): EmbedReply {
  return assertEmbedReply(
    parseJson(bytes, (m) => new AgentbusError('stream_protocol_error', `embed reply is not JSON: ${m}`)),
  );
}

/** Decodes and validates a speech request; throws `invalid_envelope`. */
export function decodeSpeechRequest(bytes: Uint8Array): SpeechRequest {
  return assertSpeechRequest(
    parseJson(bytes, (m) => new AgentbusError('invalid_envelope', `speech request is not JSON: ${m}`)),
  );
}

/** Decodes and validates a speech reply frame; throws `stream_protocol_error`. */
export function decodeSpeechFrame(bytes: Uint8Array): SpeechFrame {
  return assertSpeechFrame(
    parseJson(bytes, (m) => new AgentbusError('stream_protocol_error', `speech frame is not JSON: ${m}`)),
  );
}

/** Decodes and validates a transcription request; throws `invalid_envelope`. */
export function decodeTranscriptionRequest(bytes: Uint8Array): TranscriptionRequest {
  return assertTranscriptionRequest(
    parseJson(bytes, (m) => new AgentbusError('invalid_envelope', `transcription request is not JSON: ${m}`)),
  );
}

/** Decodes and validates an upload frame (gateway → worker); throws `invalid_envelope`. */
export function decodeTranscriptionUpload(bytes: Uint8Array): TranscriptionUpload {
  return assertTranscriptionUpload(
    parseJson(bytes, (m) => new AgentbusError('invalid_envelope', `transcription upload frame is not JSON: ${m}`)),
  );
}

/** Decodes and validates a transcription reply frame; throws `stream_protocol_error`. */
export function decodeTranscriptionFrame(bytes: Uint8Array): TranscriptionFrame {
  return assertTranscriptionFrame(
    parseJson(bytes, (m) => new AgentbusError('stream_protocol_error', `transcription frame is not JSON: ${m}`)),
  );
}
