import { basename } from 'node:path';
import { AgentbusError } from '../../../bus-schemas/index.js';
import { letOthersRun } from './let-others-run.js';
import type { ProviderEmbedRequest, ProviderEmbedResult } from '../types.js';
import type { LlamaEmbeddingContext, LlamaModel } from './load-module.js';

/** Unit length, as Ollama's and OpenAI's embeddings are: cosine similarity becomes a dot product. */
function normalized(vector: readonly number[]): number[] {
  const norm = Math.hypot(...vector);
  return norm > 0 ? vector.map((value) => value / norm) : [...vector];
}

/**
 * Token arrays hold ids of the model's vocabulary: llama.cpp fails its evaluation on any other,
 * which would read as the backend failing (a 502 to retry) instead of the request's mistake.
 */
function checkTokenIds(inputs: ProviderEmbedRequest['input'], model: LlamaModel, file: string): void {
  const vocabulary = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
  if (!Array.isArray(vocabulary)) return;
  inputs.forEach((input, index) => {
    if (typeof input === 'string') return;
    const unknown = input.find((token) => token >= vocabulary.length);
    if (unknown === undefined) return;
    throw new AgentbusError(
      'invalid_request',
      `input[${index}] holds token id ${unknown}, but the vocabulary of ${file} has ${vocabulary.length} ` +
        `tokens (ids 0 to ${vocabulary.length - 1}).`,
      { param: `input[${index}]` },
    );
  });
}

// node-llama-cpp's refusal of an input its embedding context cannot hold, before it evaluates anything.
const TOO_LONG = /longer than the usable context size/;

/**
 * Embeddings from the provider's GGUF file through node-llama-cpp's embedding context, made on
 * the first request beside the chat context and kept. Texts and token arrays are both taken (the
 * engine reads tokens directly); one input at a time, in order, since the context holds one.
 */
export function createLlamaCppEmbedder(
  loadModel: () => Promise<LlamaModel>,
  settings: { modelPath: string | undefined; threads: number; contextSize: number },
) {
  let context: Promise<LlamaEmbeddingContext> | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const file = basename(settings.modelPath ?? 'model.gguf');

  const contextOf = (model: LlamaModel) => {
    context ??= model.createEmbeddingContext({ contextSize: { max: settings.contextSize }, threads: settings.threads });
    // A failed creation is retried by the next request rather than remembered forever.
    context.catch(() => {
      context = undefined;
    });
    return context;
  };

  async function embedAll(request: ProviderEmbedRequest): Promise<ProviderEmbedResult> {
    const model = await loadModel();
    checkTokenIds(request.input, model, file);
    const embedder = await contextOf(model);
    const vectors: number[][] = [];
    let promptTokens = 0;
    for (const [index, input] of request.input.entries()) {
      await letOthersRun(request.signal);
      const tokens = typeof input === 'string' ? model.tokenize(input).length : input.length;
      promptTokens += tokens;
      try {
        vectors.push(normalized((await embedder.getEmbeddingFor(input)).vector));
      } catch (err) {
        throw TOO_LONG.test((err as Error).message) ? inputTooLong(index, tokens) : err;
      }
    }
    return { vectors, promptTokens };
  }

  // The request's mistake, not the engine's: as a backend_error it was retried and counted
  // against the provider, and two such requests opened the circuit of every llama-cpp agent.
  const inputTooLong = (index: number, tokens: number) =>
    new AgentbusError(
      'context_length_exceeded',
      `input[${index}] takes ${tokens} tokens, more than the embedding context of ${file} holds ` +
        `(LLAMA_CPP_CONTEXT_SIZE ${settings.contextSize}, or less where the model was trained on less); ` +
        'send shorter input.',
      { param: `input[${index}]` },
    );

  return function embed(request: ProviderEmbedRequest): Promise<ProviderEmbedResult> {
    const run = queue.then(() => embedAll(request));
    queue = run.catch(() => undefined);
    // Cancelled while it waits its turn (or mid-input), the request ends now and frees its model
    // slot; its place in the queue ends at its first check, so the engine stays one at a time.
    return untilAborted(run, request.signal).catch((err: unknown) => {
      if (request.signal.aborted || err instanceof AgentbusError) throw err;
      throw new AgentbusError('backend_error', `llama.cpp embeddings failed on ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    });
  };
}

/** `work`, or its signal's reason as soon as that aborts, whichever comes first. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort))
      .catch(() => undefined);
  });
}
