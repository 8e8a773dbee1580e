import type OpenAI from 'openai';
import type { ChatMessage } from '../../../bus-schemas/index.js';
import { splitTextParts } from '../../../common/message-parts.js';
import type { ProviderChatRequest } from '../types.js';

type CreateParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming;
type UserMessage = Extract<ChatMessage, { role: 'user' }>;
type ContentPart = OpenAI.Chat.Completions.ChatCompletionContentPart;

const textPart = (text: string): ContentPart => ({ type: 'text', text });
const toUrl = (image: string, mediaType = 'image/png') => `data:${mediaType};base64,${image}`;

/**
 * A user message's parts in the order the client sent them: each text part apart, each image with
 * its media type and detail where it sat (`image_parts`). A message from an older gateway has no
 * places: its text comes first, then its images as PNG, which OpenAI-compatible servers sniff anyway.
 */
function userParts(message: UserMessage & { images: string[] }): ContentPart[] {
  const places = message.image_parts;
  if (places?.length !== message.images.length) {
    const images = message.images.map((image) => ({ type: 'image_url' as const, image_url: { url: toUrl(image) } }));
    return [textPart(message.content), ...images];
  }
  // Lengths that no longer fit (a redacted copy) give one text, placed where the first one was.
  const texts = splitTextParts(message.content, message.part_lengths) ?? (message.content ? [message.content] : []);
  const parts: ContentPart[] = [];
  let next = 0;
  message.images.forEach((image, index) => {
    const { at, media_type, detail } = places[index]!;
    // The parts before this image that are not images are texts.
    while (next < Math.min(at - index, texts.length)) parts.push(textPart(texts[next++]!));
    parts.push({ type: 'image_url', image_url: { url: toUrl(image, media_type), ...(detail ? { detail } : {}) } });
  });
  while (next < texts.length) parts.push(textPart(texts[next++]!));
  return parts;
}

// The names OpenAI takes ("Invalid 'messages[1].name': string does not match pattern … '^[a-zA-Z0-9_-]+$'").
const SENDABLE_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** A bus message as an OpenAI message: the bus format is OpenAI's, images become data-URL parts. */
function toOpenAIMessage(message: ChatMessage): OpenAI.Chat.Completions.ChatCompletionMessageParam {
  if (message.role === 'tool') return { role: 'tool', content: message.content, tool_call_id: message.tool_call_id };
  // OpenAI tells participants of one role apart by `name` (system, user and assistant messages take it). Another
  // name ("John Doe") is left out, not sent to be refused: stored with its turn, it would fail every later turn.
  const name = message.name !== undefined && SENDABLE_NAME.test(message.name) ? { name: message.name } : {};
  if (message.role === 'user' && message.images?.length)
    return { role: 'user', content: userParts({ ...message, images: message.images }), ...name };
  if (message.role === 'user') return { role: 'user', content: message.content, ...name };
  if (message.role === 'system') return { role: 'system', content: message.content, ...name };
  return message.tool_calls?.length
    ? { role: 'assistant', content: message.content ?? null, tool_calls: message.tool_calls, ...name }
    : { role: 'assistant', content: message.content ?? '', ...name };
}

/** The streaming request for an OpenAI-compatible `/chat/completions`, with usage in the last chunk. */
export function toOpenAIRequest(
  request: ProviderChatRequest,
  capName: 'max_tokens' | 'max_completion_tokens' = 'max_tokens',
): CreateParams {
  const { options } = request;
  const body: CreateParams = {
    model: request.model,
    messages: request.messages.map(toOpenAIMessage),
    stream: true,
    stream_options: { include_usage: true },
  };
  if (options.temperature !== undefined) body.temperature = options.temperature;
  if (options.top_p !== undefined) body.top_p = options.top_p;
  // Reasoning models refuse max_tokens; Ollama's /v1 and LM Studio know nothing else (max-tokens-param.ts).
  if (options.max_tokens !== undefined) body[capName] = options.max_tokens;
  if (options.stop?.length) body.stop = options.stop;
  if (options.seed !== undefined) body.seed = options.seed;
  if (options.presence_penalty !== undefined) body.presence_penalty = options.presence_penalty;
  if (options.frequency_penalty !== undefined) body.frequency_penalty = options.frequency_penalty;
  if (options.reasoning_effort !== undefined) body.reasoning_effort = options.reasoning_effort;
  if (request.tools?.length) {
    body.tools = request.tools;
    // OpenAI refuses it without tools ("only allowed when 'tools' are specified").
    if (request.parallelToolCalls !== undefined) body.parallel_tool_calls = request.parallelToolCalls;
  }
  if (request.toolChoice !== undefined) body.tool_choice = request.toolChoice;
  if (request.responseFormat) body.response_format = request.responseFormat;
  if (request.verbosity) body.verbosity = request.verbosity;
  if (request.serviceTier) body.service_tier = request.serviceTier;
  return body;
}
