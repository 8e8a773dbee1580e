import type OpenAI from 'openai';
import type { ChatMessage } from '../../../bus-schemas/index.js';
import type { ProviderChatRequest } from '../types.js';

type CreateParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming;

/** A bus message as an OpenAI message: the bus format is OpenAI's, images become data-URL parts. */
function toOpenAIMessage(message: ChatMessage): OpenAI.Chat.Completions.ChatCompletionMessageParam {
  if (message.role === 'user' && message.images?.length) {
    return {
      role: 'user',
      content: [
        { type: 'text', text: message.content },
        // The bus carries base64 without a media type; OpenAI-compatible servers sniff it.
        ...message.images.map((image) => ({
          type: 'image_url' as const,
          image_url: { url: `data:image/png;base64,${image}` },
        })),
      ],
    };
  }
  if (message.role === 'user') return { role: 'user', content: message.content };
  if (message.role === 'system') return { role: 'system', content: message.content };
  if (message.role === 'tool') return { role: 'tool', content: message.content, tool_call_id: message.tool_call_id };
  return message.tool_calls?.length
    ? { role: 'assistant', content: message.content ?? null, tool_calls: message.tool_calls }
    : { role: 'assistant', content: message.content ?? '' };
}

/** The streaming request for an OpenAI-compatible `/chat/completions`, with usage in the last chunk. */
export function toOpenAIRequest(request: ProviderChatRequest): CreateParams {
  const { options } = request;
  const body: CreateParams = {
    model: request.model,
    messages: request.messages.map(toOpenAIMessage),
    stream: true,
    stream_options: { include_usage: true },
  };
  if (options.temperature !== undefined) body.temperature = options.temperature;
  if (options.top_p !== undefined) body.top_p = options.top_p;
  // The name the client used: reasoning models refuse max_tokens, older servers know nothing else.
  if (options.max_tokens !== undefined) body[request.maxTokensParam ?? 'max_tokens'] = options.max_tokens;
  if (options.stop?.length) body.stop = options.stop;
  if (options.seed !== undefined) body.seed = options.seed;
  if (options.presence_penalty !== undefined) body.presence_penalty = options.presence_penalty;
  if (options.frequency_penalty !== undefined) body.frequency_penalty = options.frequency_penalty;
  if (options.reasoning_effort !== undefined) body.reasoning_effort = options.reasoning_effort;
  if (request.tools?.length) body.tools = request.tools;
  if (request.toolChoice !== undefined) body.tool_choice = request.toolChoice;
  if (request.responseFormat) body.response_format = request.responseFormat;
  return body;
}
