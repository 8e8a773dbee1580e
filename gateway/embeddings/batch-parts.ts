import type { EmbedRequest } from '../../bus-schemas/index.js';

/**
 * The share of NATS's max_payload a part may fill, in its request and in its expected reply: the
 * rest is room for the envelope's other fields, the headers, and a reply a little wider than
 * expected (JSON's escapes, a longer model name).
 */
export const PART_SHARE = 0.5;

/**
 * Bytes one vector takes in an embed reply: `dimensions` float32 values in base64 (4 bytes each,
 * 4 characters per 3 bytes: bus-schemas/embed-vectors.ts), quoted, and a comma.
 */
export function replyBytesPerInput(dimensions: number): number {
  return 4 * Math.ceil((dimensions * 4) / 3) + 3;
}

/** Bytes one input takes in the request envelope, as encodeJson writes it (UTF-8, escapes), and a comma. */
export function requestBytesOf(input: string | number[]): number {
  return Buffer.byteLength(JSON.stringify(input)) + 1;
}

/** A part of a batch: the inputs from `start` up to (not including) `end`. */
export interface PartRange {
  start: number;
  end: number;
}

/**
 * The batch cut, in input order, into parts whose request and expected reply each stay within
 * {@link PART_SHARE} of `maxPayload`: one range for the whole batch when it fits (sent as today,
 * as one request). An input too large for a part alone still gets a part of its own: the bus then
 * refuses it by name (413), as it would refuse the whole batch.
 */
export function batchParts(input: EmbedRequest['input'], maxPayload: number, dimensions: number): PartRange[] {
  const budget = Math.floor(maxPayload * PART_SHARE);
  const perReply = replyBytesPerInput(dimensions);
  const parts: PartRange[] = [];
  let start = 0;
  let requestBytes = 0;
  let replyBytes = 0;
  input.forEach((item, index) => {
    const bytes = requestBytesOf(item);
    if (index > start && (requestBytes + bytes > budget || replyBytes + perReply > budget)) {
      parts.push({ start, end: index });
      start = index;
      requestBytes = 0;
      replyBytes = 0;
    }
    requestBytes += bytes;
    replyBytes += perReply;
  });
  parts.push({ start, end: input.length });
  return parts;
}
