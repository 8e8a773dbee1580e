import { outputText, refusalPart, type MessagePart } from './responses-object.js';

/** What a message's content part holds: the answer's text or the model's refusal. */
export type PartKind = 'output_text' | 'refusal';

/** Records one event of the response's stream (its sequence number is the caller's). */
export type EmitEvent = (type: string, payload: Record<string, unknown>) => unknown;

/** The content parts of one streamed message item, as far as they came. */
export interface MessageStream {
  /**
   * Adds `delta` to the message's part of `kind`, opening that part (`content_part.added`) unless
   * it is the open one, after closing the part before it.
   */
  append(kind: PartKind, delta: string): void;
  /** Opens a part of `kind`, empty, unless it is the open one (an empty answer still has one). */
  ensure(kind: PartKind): void;
  /** The `done` events of the open part (`output_text.done` or `refusal.done`, `content_part.done`). */
  close(): void;
  /** The parts so far, as the message item holds them. */
  parts(): MessagePart[];
}

interface OpenPart {
  kind: PartKind;
  text: string;
}

const partOf = ({ kind, text }: OpenPart): MessagePart => (kind === 'refusal' ? refusalPart(text) : outputText(text));

/**
 * The Responses API's events for the content parts of message `itemId` at `outputIndex`: a text
 * part streams `response.output_text.*`, a refusal part `response.refusal.*`, one part after the
 * other (OpenAI puts a refusal in a part of its own, apart from the text).
 */
export function messageStream(itemId: string, outputIndex: number, emit: EmitEvent): MessageStream {
  const parts: OpenPart[] = [];
  /** Where the last part is, as its events name it. */
  const at = () => ({ item_id: itemId, output_index: outputIndex, content_index: parts.length - 1 });

  const close = () => {
    const part = parts.at(-1);
    if (!part) return;
    if (part.kind === 'refusal') emit('response.refusal.done', { ...at(), refusal: part.text });
    else emit('response.output_text.done', { ...at(), text: part.text, logprobs: [] });
    emit('response.content_part.done', { ...at(), part: partOf(part) });
  };

  const ensure = (kind: PartKind): OpenPart => {
    const last = parts.at(-1);
    if (last?.kind === kind) return last;
    close();
    const part: OpenPart = { kind, text: '' };
    parts.push(part);
    emit('response.content_part.added', { ...at(), part: partOf(part) });
    return part;
  };

  return {
    append: (kind, delta) => {
      ensure(kind).text += delta;
      if (kind === 'refusal') emit('response.refusal.delta', { ...at(), delta });
      else emit('response.output_text.delta', { ...at(), delta, logprobs: [] });
    },
    ensure: (kind) => void ensure(kind),
    close,
    parts: () => parts.map(partOf),
  };
}
