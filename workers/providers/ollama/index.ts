import { Ollama, type ChatResponse } from 'ollama';
import { AgentbusError, type ChatMessage } from '../../../bus-schemas/index.js';
import type {
  ChatProvider,
  FinishReason,
  ProbeResult,
  ProviderChatRequest,
  ProviderEmbedRequest,
  ProviderEvent,
} from '../types.js';
import { ollamaRequestError, ollamaStreamError } from './errors.js';
import { createImageCheck } from './capabilities.js';
import { toOllamaChatRequest } from './request.js';
import { postChat } from './chat-stream.js';
import { ollamaEmbed } from './embed.js';
import { forcedToolCall } from '../forced-tool-call.js';
import { structuredOutputCheck } from '../schema-check.js';
import { estimatedCompletionTokens, estimatedPromptTokens, type StreamedOutput } from '../estimated-usage.js';

const PROBE_TIMEOUT_MS = 2000;

/**
 * A client whose every fetch is also bound to `signal`. ollama-js can only abort a stream after
 * the response arrived; binding the fetch lets a deadline abort a backend that never answers.
 */
function clientFor(url: string, signal: AbortSignal): Ollama {
  return new Ollama({
    host: url,
    fetch: (input, init) =>
      fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal }),
  });
}

/**
 * Converts Ollama's final stream line into the provider `done` event. Ollama leaves a count out at
 * times (`prompt_eval_count` when the whole prompt came from its cache): that one is estimated, as
 * the openai provider estimates a usage never sent, since a zero would say the turn cost nothing.
 */
function doneEvent(
  last: ChatResponse,
  calledTools: boolean,
  sent: { prompt: readonly ChatMessage[]; streamed: StreamedOutput },
  finishReason?: FinishReason,
): ProviderEvent {
  const prompt = (last.prompt_eval_count as number | undefined) ?? estimatedPromptTokens(sent.prompt);
  const completion = (last.eval_count as number | undefined) ?? estimatedCompletionTokens(sent.streamed);
  return {
    type: 'done',
    // Ollama reports "stop" after tool calls; OpenAI clients look for "tool_calls".
    finishReason: finishReason ?? (calledTools ? 'tool_calls' : last.done_reason === 'length' ? 'length' : 'stop'),
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

/**
 * The check of a strict structured output (response_format json_schema, `strict: true`): Ollama's
 * `format` grammar holds the answer's shape but not every rule (bounds on non-integers,
 * `multipleOf`, most formats), and strict is a promise to the client's parser. None when the
 * client's `stop` may end the answer early (Ollama's done_reason does not tell that stop apart), and
 * none for a schema the check cannot compile (a lookaround, a `$ref` to nothing): Ollama takes
 * such schemas itself, as it did before this check existed.
 */
function strictOutputCheck(request: ProviderChatRequest): ((output: string) => void) | undefined {
  const format = request.responseFormat;
  if (format?.type !== 'json_schema' || format.json_schema.strict !== true || !format.json_schema.schema) return;
  const stop = request.options.stop;
  if (stop !== undefined && stop.length > 0) return;
  try {
    return structuredOutputCheck(format.json_schema.schema);
  } catch {
    return undefined;
  }
}

// A thinking model given a `format` may put its whole answer in its thinking: say so, not "not JSON".
const answeredInThinking = () =>
  new AgentbusError(
    'invalid_request',
    'The model put its whole answer in its thinking and wrote no output for the response_format schema: ' +
      'send reasoning_effort "none" (reasoning.effort on /v1/responses), or use a model that does not think.',
    { param: 'response_format' },
  );

/**
 * The Ollama provider: `/api/chat` streamed over undici (chat-stream.ts), the official `ollama`
 * client for the probe and model capabilities.
 */
export function createOllamaProvider({ url }: { url: string }): ChatProvider {
  const assertImagesSupported = createImageCheck(url);

  // eslint-disable-next-line no-restricted-syntax -- made once per provider instance (chain.ts), not per call
  async function* chat(request: ProviderChatRequest): AsyncIterable<ProviderEvent> {
    let stream;
    const forced = forcedToolCall(request.tools, request.toolChoice);
    let checkOutput: ((output: string) => void) | undefined;
    try {
      const ollamaRequest = toOllamaChatRequest(request, forced);
      checkOutput = forced ? undefined : strictOutputCheck(request);
      // The client only for /api/show, and only when there are images.
      await assertImagesSupported(() => clientFor(url, request.signal), request.model, request.messages);
      stream = await postChat(url, ollamaRequest, request.signal);
    } catch (err) {
      throw request.signal.aborted ? request.signal.reason : ollamaRequestError(err, url, request.model);
    }
    let calledTools = false;
    // A forced call's output is the call's JSON: kept back, and yielded as the call at the end.
    let forcedOutput = '';
    // A strict structured output's text, checked once whole (streamed, it has gone out by then).
    let output = '';
    let thought = false;
    // Counted for a usage Ollama leaves out (doneEvent): one line is one token.
    const sent = { prompt: request.messages, streamed: { chunks: 0, chars: 0 } };
    try {
      for await (const batch of stream) {
        for (const part of batch) {
          const chars = sent.streamed.chars;
          sent.streamed.chars += (part.message?.content ?? '').length + (part.message?.thinking ?? '').length;
          if (forced) {
            forcedOutput += part.message?.content ?? '';
            if (sent.streamed.chars > chars) sent.streamed.chunks++;
            if (!part.done) continue;
            const { call, finishReason } = forced.answer(forcedOutput, part.done_reason === 'length');
            if (call) yield { type: 'tool_call', call };
            yield doneEvent(part, true, sent, finishReason);
            return;
          }
          if (part.message?.thinking) {
            thought = true;
            yield { type: 'reasoning', content: part.message.thinking };
          }
          if (part.message?.content) {
            if (checkOutput) output += part.message.content;
            yield { type: 'delta', content: part.message.content };
          }
          for (const call of part.message?.tool_calls ?? []) {
            calledTools = true;
            const args = JSON.stringify(call.function.arguments ?? {});
            sent.streamed.chars += args.length;
            yield { type: 'tool_call', call: { name: call.function.name, arguments: args } };
          }
          if (sent.streamed.chars > chars) sent.streamed.chunks++;
          if (part.done) {
            if (checkOutput && !calledTools && part.done_reason !== 'length') {
              if (output.trim() === '' && thought) throw answeredInThinking();
              checkOutput(output);
            }
            yield doneEvent(part, calledTools, sent);
            return;
          }
        }
      }
    } catch (err) {
      throw request.signal.aborted ? request.signal.reason : ollamaStreamError(err, url);
    } finally {
      stream.abort();
    }
    throw new AgentbusError(
      'backend_error',
      `Ollama at ${url} (OLLAMA_URL) ended the stream without its final "done" line`,
    );
  }

  async function probe(models: readonly string[]): Promise<ProbeResult> {
    const client = clientFor(url, AbortSignal.timeout(PROBE_TIMEOUT_MS));
    try {
      const { version } = await client.version();
      const { models: pulled } = await client.list();
      const have = new Set(pulled.flatMap((m) => [m.name, m.model, m.name.replace(/:latest$/, '')]));
      const missingModels = [...new Set(models)].filter((m) => !have.has(m) && !have.has(`${m}:latest`));
      return { reachable: true, version, missingModels };
    } catch (err) {
      return { reachable: false, missingModels: [], error: ollamaRequestError(err, url, '').message };
    }
  }

  return Object.freeze({
    name: 'ollama',
    endpoint: url,
    chat,
    embed: (request: ProviderEmbedRequest) => ollamaEmbed(url, request),
    probe,
  });
}
