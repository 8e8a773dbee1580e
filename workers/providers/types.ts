import type {
  ChatMessage,
  ChatRequest,
  FINISH_REASONS,
  ResponseFormat,
  SamplingOptions,
  ToolChoice,
  ToolDefinition,
  Usage,
} from '../../bus-schemas/index.js';

/** Where memory's history sits in a prompt: `messages[start, end)`. */
export interface StoredHistoryRange {
  start: number;
  end: number;
}

/** What a worker asks of a model backend. */
export interface ProviderChatRequest {
  model: string;
  messages: ChatMessage[];
  options: SamplingOptions;
  /** The name an OpenAI-compatible upstream gets `options.max_tokens` under; absent: `max_tokens`. */
  maxTokensParam?: ChatRequest['max_tokens_param'];
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  /**
   * The client's `parallel_tool_calls`: an OpenAI-compatible upstream is told; the worker still drops calls after
   * the first when it is false, for providers that cannot be told (Ollama, llama.cpp) and servers that ignore it.
   */
  parallelToolCalls?: boolean;
  responseFormat?: ResponseFormat;
  /** OpenAI's `verbosity` and `service_tier`, as the client sent them: only OpenAI-compatible upstreams take them. */
  verbosity?: ChatRequest['verbosity'];
  serviceTier?: ChatRequest['service_tier'];
  /**
   * `messages[start, end)` came from memory, not from the client: a provider whose context cannot
   * hold the whole prompt leaves out its oldest turns (stored-history.ts) rather than refuse.
   */
  storedHistory?: StoredHistoryRange;
  /** Aborted at the request's deadline; the provider must stop the backend call. */
  signal: AbortSignal;
}

/** A complete tool call as a backend reported it; `arguments` is JSON text. */
export interface ProviderToolCall {
  /** The backend's id for the call, when it gives one; the worker makes one up otherwise. */
  id?: string;
  name: string;
  arguments: string;
}

/** Why the model stopped, in OpenAI's terms (`content_filter`: only OpenAI-compatible upstreams report it). */
export type FinishReason = (typeof FINISH_REASONS)[number];

/** What a provider yields while answering: content fragments and tool calls, then exactly one `done`. */
export type ProviderEvent =
  | { type: 'delta'; content: string }
  /** The model's thinking, from a backend that reports it apart (Ollama `thinking`). */
  | { type: 'reasoning'; content: string }
  /** The model's refusal to answer, from a backend that reports it apart (OpenAI's `refusal`). */
  | { type: 'refusal'; content: string }
  | { type: 'tool_call'; call: ProviderToolCall }
  | { type: 'done'; finishReason: FinishReason; usage: Usage };

/** What a worker asks of an embedding backend: one vector per input, in order. */
export interface ProviderEmbedRequest {
  model: string;
  /** Texts, or token arrays (a provider that cannot take tokens refuses them with invalid_request). */
  input: string[] | number[][];
  signal: AbortSignal;
}

/** The backend's vectors, in input order, and the tokens it read. */
export interface ProviderEmbedResult {
  vectors: number[][];
  promptTokens: number;
}

/** Whether the backend answers, for startup messages and health. */
export interface ProbeResult {
  reachable: boolean;
  version?: string;
  /** Models the agents use that the backend does not have. */
  missingModels: string[];
  error?: string;
}

/**
 * A model backend. Implementations live in `providers/<name>/` and throw `AgentbusError`s
 * (backend_unreachable, backend_error, backend_model_not_found, backend_auth_failed, and invalid_request
 * for a request this backend cannot honour) that name the backend's URL.
 */
export interface ChatProvider {
  readonly name: string;
  /** Where the backend is, as the user configured it (e.g. OLLAMA_URL). */
  readonly endpoint: string;
  /**
   * The model that answers whatever model a request names (llama-cpp: its one GGUF file): the
   * answer's model, as clients and memory should see it.
   */
  readonly servedModel?: string;
  chat(request: ProviderChatRequest): AsyncIterable<ProviderEvent>;
  /** Embeddings; absent when the backend has none (an embedding agent's chain then fails on it). */
  embed?(request: ProviderEmbedRequest): Promise<ProviderEmbedResult>;
  probe(models: readonly string[]): Promise<ProbeResult>;
}
