import OpenAI from 'openai';
import { AgentbusError, type Usage } from '../../../bus-schemas/index.js';
import type {
  ChatProvider,
  FinishReason,
  ProbeResult,
  ProviderChatRequest,
  ProviderEmbedRequest,
  ProviderEvent,
} from '../types.js';
import { openAIError } from './errors.js';
import { capNameFor, type MaxTokensParamSetting } from './max-tokens-param.js';
import { toOpenAIRequest } from './request.js';
import { withoutOldestTurn, type TrimmablePrompt } from '../stored-history.js';
import { openAIEmbed } from './embed.js';
import { usageOf } from './usage.js';
import { estimatedUsage, type StreamedOutput } from '../estimated-usage.js';

const PROBE_TIMEOUT_MS = 2000;

/**
 * The upstream's finish reason in ours. `content_filter` is kept: the answer was cut or withheld
 * and must not read as complete. Anything else unknown (`function_call`, a server's own) is `stop`.
 */
export function finishReasonOf(upstream: string): FinishReason {
  if (upstream === 'length' || upstream === 'tool_calls' || upstream === 'content_filter') return upstream;
  return 'stop';
}

export interface OpenAISettings {
  /** Base URL of the OpenAI-compatible API, including `/v1` (OPENAI_BASE_URL). */
  baseUrl: string;
  /** Bearer key (OPENAI_API_KEY); local servers (llama.cpp server, vLLM, LM Studio) take any. */
  apiKey: string | undefined;
  /** Which name a cap goes out under (OPENAI_MAX_TOKENS_PARAM; max-tokens-param.ts). */
  maxTokensParam?: MaxTokensParamSetting | undefined;
}

/**
 * Any OpenAI-compatible upstream (OpenAI, vLLM, llama.cpp's server, LM Studio, another
 * agentbus) through the official `openai` client: streaming, tools, structured outputs. The SDK's
 * own retries are off: fallback and retry policy belong to the worker, not to each provider.
 */
export function createOpenAIProvider(settings: OpenAISettings): ChatProvider {
  const { baseUrl } = settings;
  const client = new OpenAI({ baseURL: baseUrl, apiKey: settings.apiKey ?? 'unused', maxRetries: 0 });
  const capName = capNameFor(settings.maxTokensParam ?? 'auto', baseUrl);

  /**
   * The upstream's stream. A prompt too long for the server's context is sent again without its
   * oldest stored turn, until it fits or only what the client sent is left (a context size the
   * worker cannot know: the server says so, and refuses before it generates anything).
   */
  async function open(request: ProviderChatRequest) {
    for (let prompt: TrimmablePrompt = request; ;) {
      try {
        const messages = [...prompt.messages];
        const stream = await client.chat.completions.create(
          toOpenAIRequest({ ...request, messages }, capName(request.maxTokensParam)),
          {
            signal: request.signal,
          },
        );
        return { stream, messages };
      } catch (err) {
        if (request.signal.aborted) throw request.signal.reason;
        const error = openAIError(err, baseUrl, request.model);
        const shorter = error.code === 'context_length_exceeded' ? withoutOldestTurn(prompt) : undefined;
        if (shorter === undefined) throw error;
        prompt = shorter;
      }
    }
  }

  // eslint-disable-next-line no-restricted-syntax -- made once per provider instance (chain.ts), not per call
  async function* chat(request: ProviderChatRequest): AsyncIterable<ProviderEvent> {
    const { stream, messages } = await open(request);
    // Tool calls arrive in fragments by index; the provider interface passes whole calls on.
    const calls = new Map<number, { id?: string; name: string; arguments: string }>();
    let finishReason: FinishReason | undefined;
    // Absent from a server that ignores stream_options: then estimated from what streamed.
    let usage: Usage | undefined;
    const streamed: StreamedOutput = { chunks: 0, chars: 0 };
    try {
      for await (const chunk of stream) {
        if (chunk.usage) usage = usageOf(chunk.usage);
        const choice = chunk.choices[0];
        if (!choice) continue;
        // Reasoning servers (vLLM, DeepSeek, LiteLLM) send the thinking as reasoning_content (or reasoning).
        const thinking = (choice.delta as { reasoning_content?: unknown; reasoning?: unknown } | undefined) ?? {};
        const reasoning = thinking.reasoning_content ?? thinking.reasoning;
        // OpenAI's refusal comes apart from the content (`content: null`, `refusal: "I can't…"`).
        const refusal = choice.delta?.refusal;
        // Counted for a usage estimate in place: no strings joined per chunk for a rare fallback.
        const chars = streamed.chars;
        if (typeof reasoning === 'string' && reasoning) {
          streamed.chars += reasoning.length;
          yield { type: 'reasoning', content: reasoning };
        }
        if (choice.delta?.content) {
          streamed.chars += choice.delta.content.length;
          yield { type: 'delta', content: choice.delta.content };
        }
        if (refusal) {
          streamed.chars += refusal.length;
          yield { type: 'refusal', content: refusal };
        }
        for (const fragment of choice.delta?.tool_calls ?? []) {
          const call = calls.get(fragment.index) ?? { name: '', arguments: '' };
          if (fragment.id) call.id = fragment.id;
          if (fragment.function?.name) call.name += fragment.function.name;
          if (fragment.function?.arguments) {
            call.arguments += fragment.function.arguments;
            streamed.chars += fragment.function.arguments.length;
          }
          calls.set(fragment.index, call);
        }
        if (streamed.chars > chars) streamed.chunks++;
        if (choice.finish_reason) finishReason = finishReasonOf(choice.finish_reason);
      }
    } catch (err) {
      throw request.signal.aborted ? request.signal.reason : openAIError(err, baseUrl, request.model);
    }
    if (finishReason === undefined)
      throw new AgentbusError(
        'backend_error',
        `The OpenAI-compatible server at ${baseUrl} ended the stream without a finish_reason`,
      );
    for (const index of [...calls.keys()].sort((a, b) => a - b)) {
      const call = calls.get(index)!;
      yield {
        type: 'tool_call',
        call: { ...(call.id ? { id: call.id } : {}), name: call.name, arguments: call.arguments || '{}' },
      };
    }
    // A filtered answer stays filtered with calls in it: their arguments may be cut.
    const reason = calls.size > 0 && finishReason !== 'content_filter' ? 'tool_calls' : finishReason;
    yield { type: 'done', finishReason: reason, usage: usage ?? estimatedUsage(messages, streamed) };
  }

  async function probe(models: readonly string[]): Promise<ProbeResult> {
    try {
      const served = new Set<string>();
      for await (const model of client.models.list({ signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }))
        served.add(model.id);
      return {
        reachable: true,
        version: `OpenAI-compatible at ${baseUrl}`,
        missingModels: [...new Set(models)].filter((m) => !served.has(m)),
      };
    } catch (err) {
      return { reachable: false, missingModels: [], error: openAIError(err, baseUrl, '').message };
    }
  }

  return Object.freeze({
    name: 'openai',
    endpoint: baseUrl,
    chat,
    embed: (request: ProviderEmbedRequest) => openAIEmbed(client, baseUrl, request),
    probe,
  });
}
