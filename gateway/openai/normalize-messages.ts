import { AgentbusError, PART_SEPARATOR, type ChatMessage, type ToolCall } from '../../bus-schemas/index.js';
import type { ChatCompletionRequest } from './chat-completion-request.schema.js';

type RequestMessage = ChatCompletionRequest['messages'][number];
type ContentPart = Extract<NonNullable<RequestMessage['content']>, unknown[]>[number];

// The image bytes of a data URL, and of /api/generate's bare `images` (legacy/generate.ts): one rule.
const BASE64_TEXT = '[A-Za-z0-9+/=\\s]+';
const BASE64 = new RegExp(`^${BASE64_TEXT}$`);
// data:image/png;base64,AAAA… — the only image form accepted: agentbus never fetches a URL a
// client names (that would let any caller make the gateway or a worker reach any host).
const IMAGE_DATA_URL = new RegExp(`^data:(image/[A-Za-z0-9.+-]+);base64,(${BASE64_TEXT})$`);

type ImagePart = NonNullable<Extract<ChatMessage, { role: 'user' }>['image_parts']>[number];

/** Whether `text` is base64 as an image part's data URL carries it. */
export const isBase64 = (text: string): boolean => BASE64.test(text);

const invalid = (message: string, param: string) => new AgentbusError('invalid_request', message, { param });

interface Flattened {
  text: string;
  images: string[];
  /** Where each image sat among the parts, its media type and detail: the openai provider sends them so. */
  imageParts: ImagePart[];
  lengths: number[];
  refusals: number[];
}

// Shared by every message of plain text (most of them, on the hot path): no arrays made for nothing. Frozen,
// and never put in a message: each list is used only when it is not empty.
const NONE = Object.freeze([]) as never[];

/**
 * Text (the parts joined by PART_SEPARATOR, but a tool's) and images of one message's content, the length of each
 * text part and which of them were refusals, with errors naming the exact part.
 */
function flattenContent(message: RequestMessage, at: string): Flattened {
  const { content } = message;
  // Only an assistant's turn may be without content (it called tools); OpenAI refuses the rest.
  if (message.role !== 'assistant' && content == null)
    throw invalid(
      `${at}.content is required for a ${message.role} message (a string, or content parts)`,
      `${at}.content`,
    );
  if (message.role !== 'assistant' && Array.isArray(content) && content.length === 0)
    throw invalid(`${at}.content is an empty array: send at least one content part, or a string`, `${at}.content`);
  if (content == null || typeof content === 'string')
    return { text: content ?? '', images: NONE, imageParts: NONE, lengths: NONE, refusals: NONE };
  const texts: string[] = [];
  const images: string[] = [];
  const imageParts: ImagePart[] = [];
  const lengths: number[] = [];
  const refusals: number[] = [];
  content.forEach((part: ContentPart, index) => {
    const param = `${at}.content[${index}]`;
    switch (part.type) {
      case 'text':
        if (typeof part.text !== 'string') throw invalid(`${param}.text is required for a text part`, `${param}.text`);
        texts.push(part.text);
        lengths.push(part.text.length);
        return;
      case 'refusal':
        if (message.role !== 'assistant')
          throw invalid(`${param}: refusal parts are only allowed in assistant messages`, param);
        texts.push(part.refusal ?? '');
        refusals.push(lengths.length);
        lengths.push(part.refusal?.length ?? 0);
        return;
      case 'image_url': {
        if (message.role !== 'user') throw invalid(`${param}: image parts are only allowed in user messages`, param);
        const match = IMAGE_DATA_URL.exec(part.image_url?.url ?? '');
        if (!match) {
          throw invalid(
            `${param}.image_url.url must be a base64 data URL (data:image/png;base64,…); ` +
              'agentbus does not fetch images from remote URLs',
            `${param}.image_url.url`,
          );
        }
        images.push(match[2]!.replace(/\s+/g, ''));
        const detail = part.image_url?.detail;
        imageParts.push({ at: index, media_type: match[1]!, ...(detail != null ? { detail } : {}) });
        return;
      }
      case 'input_audio':
        throw invalid(`${param}: audio input is not supported by agentbus's model backends`, param);
      case 'file':
        throw invalid(`${param}: file parts are not supported; send the file's text as a text part`, param);
    }
  });
  // A tool's output is often JSON cut anywhere, and keeps no lengths to read back: its parts join as
  // they are, as a Responses function call's output does.
  const text = texts.join(message.role === 'tool' ? '' : PART_SEPARATOR);
  return { text, images, imageParts, lengths, refusals };
}

/** `part_lengths` when the content came as several text parts, so it reads back as sent (bus-schemas). */
const partsOf = (lengths: number[]) => (lengths.length > 1 ? { part_lengths: lengths } : {});

function toolCallsOf(message: RequestMessage, at: string): ToolCall[] | undefined {
  if (message.tool_calls == null || message.tool_calls.length === 0) return undefined;
  if (message.role !== 'assistant')
    throw invalid(`${at}.tool_calls is only allowed in assistant messages`, `${at}.tool_calls`);
  // Copy only the fields the bus knows: SDK runners send back objects with fields of their own.
  return message.tool_calls.map((call) => ({
    id: call.id,
    type: 'function',
    function: { name: call.function.name, arguments: call.function.arguments },
  }));
}

/**
 * OpenAI messages → bus messages: `developer` is OpenAI's newer name for `system`, content parts
 * are flattened to text (one per line), image parts become base64 `images` and their place, media
 * type and detail `image_parts`, tool calls and tool results keep
 * their ids. A developer role, the split into text parts and which of them were refusals are kept
 * beside (`developer`, `part_lengths`, `refusal_parts`) for reading back. Anything the bus cannot
 * carry is a 400 naming the message and part.
 */
export function normalizeMessages(messages: ChatCompletionRequest['messages']): ChatMessage[] {
  return messages.map((message, index): ChatMessage => {
    const at = `messages[${index}]`;
    const { text, images, imageParts, lengths, refusals } = flattenContent(message, at);
    const parts = partsOf(lengths);
    const toolCalls = toolCallsOf(message, at);
    const name = message.name !== undefined ? { name: message.name } : {};
    switch (message.role) {
      case 'system':
        return { role: 'system', content: text, ...name, ...parts };
      case 'developer':
        return { role: 'system', content: text, ...name, developer: true, ...parts };
      case 'user':
        return {
          role: 'user',
          content: text,
          ...name,
          ...parts,
          ...(images.length > 0 ? { images, image_parts: imageParts } : {}),
        };
      case 'assistant':
        // POST /v1/chat/completions has put the transcript in by now (chat-audio-history.ts).
        if (message.audio != null && text === '' && !toolCalls)
          throw invalid(
            `${at}.audio: an audio id stands for its transcript on POST /v1/chat/completions only; ` +
              'send the transcript as content',
            `${at}.audio`,
          );
        return {
          role: 'assistant',
          content: text,
          ...name,
          ...parts,
          ...(refusals.length > 0 ? { refusal_parts: refusals } : {}),
          ...(toolCalls ? { tool_calls: toolCalls } : {}),
        };
      case 'tool':
        if (message.tool_call_id === undefined)
          throw invalid(`${at}.tool_call_id is required for a tool message`, `${at}.tool_call_id`);
        return { role: 'tool', content: text, tool_call_id: message.tool_call_id };
      case 'function':
        throw invalid(
          `${at}: the deprecated "function" role is not supported; ` +
            'answer tool calls with "tool" messages carrying tool_call_id',
          `${at}.role`,
        );
    }
  });
}
