import { PART_SEPARATOR } from '../bus-schemas/index.js';

/**
 * A message's text parts as the client sent them, split at `part_lengths` (bus-schemas): joined by
 * PART_SEPARATOR, or by nothing in turns stored before it. Undefined when there are no lengths or
 * they do not fit the content (a redacted copy, say), so the caller takes the content whole.
 */
export function splitTextParts(content: string, lengths: readonly number[] | undefined): string[] | undefined {
  if (lengths === undefined) return undefined;
  const total = lengths.reduce((sum, length) => sum + length, 0);
  const gaps = (lengths.length - 1) * PART_SEPARATOR.length;
  const separator = total === content.length ? '' : total + gaps === content.length ? PART_SEPARATOR : undefined;
  if (separator === undefined) return undefined;
  const parts: string[] = [];
  let start = 0;
  for (const [index, length] of lengths.entries()) {
    if (index > 0) {
      if (content.slice(start, start + separator.length) !== separator) return undefined;
      start += separator.length;
    }
    parts.push(content.slice(start, (start += length)));
  }
  return parts;
}
