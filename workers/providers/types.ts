import type { ChatMessage, SamplingOptions, Usage } from '../../bus-schemas/index.js';

/** What a worker asks of a model backend. */
export interface ProviderChatRequest {
  model: string;
  messages: ChatMessage[];
  options: SamplingOptions;
  /** Aborted at the request's deadline; the provider must stop the backend call. */
  signal: AbortSignal;
}

/** What a provider yields while answering: content fragments, then exactly one `done`. */
export type ProviderEvent =
  | { type: 'delta'; content: string }
  | { type: 'done'; finishReason: 'stop' | 'length'; usage: Usage };

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
 * (backend_unreachable, backend_error, backend_model_not_found) that name the backend's URL.
 */
export interface ChatProvider {
  readonly name: string;
  /** Where the backend is, as the user configured it (e.g. OLLAMA_URL). */
  readonly endpoint: string;
  chat(request: ProviderChatRequest): AsyncIterable<ProviderEvent>;
  probe(models: readonly string[]): Promise<ProbeResult>;
}
