import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { AgentbusError } from '../../../bus-schemas/index.js';
import { letOthersRun } from './let-others-run.js';
import type { ChatProvider, ProbeResult, ProviderChatRequest, ProviderEvent } from '../types.js';
import {
  loadNodeLlamaCpp,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type NodeLlamaCpp,
} from './load-module.js';
import { explainStop } from './deadline-hint.js';
import { llamaCppError } from './errors.js';
import { createLlamaCppEmbedder } from './embed.js';
import { countPromptTokens } from './prompt-tokens.js';
import { toChatHistory, toGenerateOptions } from './request.js';
import { StopSequences } from './stop-sequences.js';
import { forcedToolCall } from '../forced-tool-call.js';
import { fitToContext } from './context-fit.js';
import { withoutOldestTurn, type TrimmablePrompt } from '../stored-history.js';
import { grammarOf, outputShape } from './output-grammar.js';
import { toFunctions, toToolCalls } from './functions.js';

export interface LlamaCppSettings {
  /** The GGUF file to answer with (LLAMA_CPP_MODEL_PATH). */
  modelPath: string | undefined;
  /** CPU threads per generation (LLAMA_CPP_THREADS). */
  threads: number;
  /** Generations that may run at once, each on its own context sequence (LLAMA_CPP_PARALLEL). */
  parallel: number;
  /** Upper bound of the context window; the model's own training size caps it further. */
  contextSize: number;
  /** `max_tokens` of a request that sets none; 0: no cap (LLAMA_CPP_MAX_TOKENS). */
  maxTokens: number;
}

interface Loaded {
  module: NodeLlamaCpp;
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  /** Sequences not in use, and requests waiting for one. */
  free: LlamaContextSequence[];
  waiting: Array<(sequence: LlamaContextSequence) => void>;
}

/** A push-to-pull bridge: node-llama-cpp reports text through a callback, the provider yields it. */
function textQueue() {
  const chunks: string[] = [];
  let wake: (() => void) | undefined;
  return {
    push(text: string) {
      chunks.push(text);
      wake?.();
    },
    notify() {
      wake?.();
    },
    take: () => chunks.splice(0),
    wait: () =>
      new Promise<void>((resolve) => {
        wake = resolve;
      }),
  };
}

/**
 * In-process inference on a local GGUF file through node-llama-cpp (llama.cpp's prebuilt CPU
 * binaries): the zero-install way to answer with no model server at all. The model loads on
 * the first request (or probe) and stays loaded; requests beyond `parallel` wait for a free
 * sequence. Text and tool calls: a forced call (tool_choice "required" or a named function) is output a
 * grammar holds to the call's schema; with "auto" the model may write a call in its chat wrapper's
 * syntax, its arguments held to the schema the same way. Images and structured outputs are refused
 * with a 400. Answers
 * name the GGUF file as their model (`servedModel`): whatever model a request names, this file
 * answers it, and the file name says which one — the GGUF's `general.name` is often just its
 * architecture ("llama" in stories260K).
 */
export function createLlamaCppProvider(settings: LlamaCppSettings): ChatProvider {
  const endpoint = settings.modelPath ?? '(LLAMA_CPP_MODEL_PATH unset)';
  let loading: Promise<Loaded> | undefined;

  function load(): Promise<Loaded> {
    const { modelPath } = settings;
    if (!modelPath)
      return Promise.reject(
        new AgentbusError(
          'backend_unreachable',
          'The llama-cpp provider needs a GGUF model file: set LLAMA_CPP_MODEL_PATH ' +
            '(for a first try, ../shared/models/stories260K.gguf or any GGUF you have).',
        ),
      );
    if (!existsSync(modelPath))
      return Promise.reject(
        new AgentbusError('backend_unreachable', `No GGUF model file at ${modelPath} (LLAMA_CPP_MODEL_PATH).`),
      );
    loading ??= (async () => {
      const module = await loadNodeLlamaCpp();
      // Prebuilt CPU binaries only: never compile or download at run time.
      const llama = await module.getLlama({ gpu: false, build: 'never', logLevel: 'error' });
      const model = await llama.loadModel({ modelPath });
      const context = await model.createContext({
        contextSize: { max: settings.contextSize },
        threads: settings.threads,
        sequences: settings.parallel,
      });
      const free = Array.from({ length: settings.parallel }, () => context.getSequence());
      return { module, llama, model, context, free, waiting: [] };
    })();
    // A failed load is retried by the next request rather than remembered forever.
    loading.catch(() => {
      loading = undefined;
    });
    return loading;
  }

  async function acquire(loaded: Loaded, signal: AbortSignal): Promise<LlamaContextSequence> {
    const sequence = loaded.free.pop();
    if (sequence) return sequence;
    return new Promise((resolve, reject) => {
      const take = (s: LlamaContextSequence) => {
        signal.removeEventListener('abort', onAbort);
        resolve(s);
      };
      const onAbort = () => {
        loaded.waiting.splice(loaded.waiting.indexOf(take), 1);
        reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
      };
      loaded.waiting.push(take);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  function release(loaded: Loaded, sequence: LlamaContextSequence) {
    const next = loaded.waiting.shift();
    if (next) next(sequence);
    else loaded.free.push(sequence);
  }

  // eslint-disable-next-line no-restricted-syntax -- made once per provider instance (chain.ts), not per call
  async function* chat(request: ProviderChatRequest): AsyncIterable<ProviderEvent> {
    // Checked before loading anything, so a request this provider cannot honour is a fast 400.
    // A forced tool call is the only tool use here: its output is held to the call's schema.
    const forced = forcedToolCall(request.tools, request.toolChoice);
    // "auto": the model may call one; "none" asks for text, so the tools are left out.
    const functions =
      !forced && request.tools?.length && request.toolChoice !== 'none' ? toFunctions(request.tools) : undefined;
    const shape = outputShape(request, forced, functions !== undefined);
    const historyOf = (prompt: TrimmablePrompt) =>
      toChatHistory(forced ? [...prompt.messages, forced.instruction] : prompt.messages);
    let history = historyOf(request);
    const options = toGenerateOptions(request, settings.maxTokens);
    // Stop sequences end text; a forced call has none, and one would cut its JSON (OpenAI's do not).
    const stops = !forced && request.options.stop?.length ? new StopSequences(request.options.stop) : undefined;
    // A stop sequence ends the generation as a stop would, but as an answer, not an error.
    const stopAtSequence = new AbortController();
    if (stops) {
      options.signal = AbortSignal.any([request.signal, stopAtSequence.signal]);
      options.stopOnAbortSignal = true;
    }
    const loaded = await load();
    const grammar = await grammarOf(loaded.llama, shape);
    const sequence = await acquire(loaded, request.signal);
    const session = new loaded.module.LlamaChat({ contextSequence: sequence });
    const count = async (items: typeof history, tools?: typeof functions) => {
      await letOthersRun(request.signal);
      return countPromptTokens(session.chatWrapper, loaded.model.tokenizer, items, tools);
    };
    let prompt: number;
    // Whatever fails before the generation starts gives the sequence back, or the next request waits forever.
    try {
      prompt = await count(history, functions);
      // Stored turns make room, oldest first, for the answer: the client's max_tokens, else the default
      // cap (LLAMA_CPP_MAX_TOKENS), but never more than a quarter of the context, so a cap as large as
      // the context does not push out every stored turn.
      const contextSize = loaded.context.contextSize;
      const wanted = request.options.max_tokens ?? Math.min(options.maxTokens ?? 1, Math.floor(contextSize / 4));
      for (let kept: TrimmablePrompt | undefined = request; contextSize - prompt < wanted;) {
        kept = withoutOldestTurn(kept);
        if (kept === undefined) break;
        history = historyOf(kept);
        prompt = await count(history, functions);
      }
      // Refused, not shortened: node-llama-cpp would otherwise drop the start of what the client sent.
      options.maxTokens = fitToContext({
        promptTokens: prompt,
        requested: request.options.max_tokens,
        maxTokens: options.maxTokens,
        contextSize,
        setting: settings.contextSize,
        file: basename(endpoint),
        // Counted only for the message of a prompt that fills the context: a second render of it.
        ...(functions && prompt >= contextSize ? { toolTokens: prompt - (await count(history)) } : {}),
      });
    } catch (err) {
      session.dispose();
      release(loaded, sequence);
      throw err;
    }
    const queue = textQueue();
    const outputBefore = sequence.tokenMeter.usedOutputTokens;
    const generated = () => sequence.tokenMeter.usedOutputTokens - outputBefore;
    let finished = false;
    const generation = session
      .generateResponse(history, {
        ...options,
        ...(grammar ? { grammar } : {}),
        ...(functions ? { functions, documentFunctionParams: true } : {}),
        // Matched as node-llama-cpp writes the text, so the generation ends at the stop sequence's token.
        onTextChunk: (text) => {
          if (!stops) return queue.push(text);
          queue.push(stops.push(text));
          if (stops.stopped) stopAtSequence.abort();
        },
      })
      .finally(() => {
        finished = true;
        queue.notify();
      });
    generation.catch(() => undefined); // observed below; never an unhandled rejection
    // The prompt's evaluation writes no text for a while: a stop must end the wait all the same.
    const onAbort = () => queue.notify();
    request.signal.addEventListener('abort', onAbort, { once: true });
    try {
      // A forced call's output is the call's JSON: yielded as the call at the end, never as text.
      const relay = (chunks: string[]) => (forced ? [] : chunks.filter((text) => text !== ''));
      while (!finished) {
        await queue.wait();
        if (request.signal.aborted) throw request.signal.reason;
        for (const text of relay(queue.take())) yield { type: 'delta', content: text };
      }
      for (const text of relay(queue.take())) yield { type: 'delta', content: text };
      if (request.signal.aborted) throw request.signal.reason;
      const result = await generation;
      const cut = result.metadata.stopReason === 'maxTokens' && !stops?.stopped;
      const held = stops?.flush(); // nothing once a stop sequence ended the answer
      if (held) yield { type: 'delta', content: held };
      // An answer a limit or the client's own `stop` ended is returned as it is, as OpenAI returns it.
      const check = shape?.kind === 'schema' ? shape.check : undefined;
      if (check && !cut && !stops?.stopped) check(result.response);
      // A forced call's answer (whole, cut or none), or the calls node-llama-cpp parsed under "auto".
      const answer = forced?.answer(result.response, cut);
      const forcedCalls = answer?.call ? [answer.call] : [];
      const calls = answer ? forcedCalls : toToolCalls(result.functionCalls, request.tools ?? []);
      for (const call of calls) yield { type: 'tool_call', call };
      const completion = generated();
      yield {
        type: 'done',
        finishReason: answer?.finishReason ?? (calls.length ? 'tool_calls' : cut ? 'length' : 'stop'),
        usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
      };
    } catch (err) {
      if (request.signal.aborted)
        throw explainStop(request.signal.reason, {
          generated: generated(),
          requested: request.options.max_tokens,
          defaultMaxTokens: settings.maxTokens,
        });
      throw llamaCppError(err, basename(endpoint), settings.contextSize);
    } finally {
      request.signal.removeEventListener('abort', onAbort);
      // The sequence is free once node-llama-cpp has stopped, which a stop mid-evaluation may take a
      // while to reach: the answer (a stop's error) does not wait for it.
      const freed = generation
        .catch(() => undefined)
        .then(() => {
          session.dispose();
          release(loaded, sequence);
        });
      if (!request.signal.aborted) await freed;
    }
  }

  async function probe(): Promise<ProbeResult> {
    try {
      await load();
      return { reachable: true, version: `node-llama-cpp, ${basename(endpoint)}`, missingModels: [] };
    } catch (err) {
      return { reachable: false, missingModels: [], error: (err as Error).message };
    }
  }

  const embed = createLlamaCppEmbedder(async () => (await load()).model, settings);
  const servedModel = settings.modelPath ? basename(settings.modelPath) : undefined;
  return Object.freeze({ name: 'llama-cpp', endpoint, ...(servedModel ? { servedModel } : {}), chat, embed, probe });
}
