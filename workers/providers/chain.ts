import { AgentbusError, type FallbackStep } from '../../bus-schemas/index.js';
import type { Agent, ProviderRef } from '../../common/catalog.js';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { Redactor } from '../../common/redaction.js';
import { redactRequest } from '../../common/request-text.js';
import { createBreakers, type BreakerSettings } from './breakers.js';
import { firstAnswer, type ChainRun } from './run-chain.js';
import type { ProviderName } from './index.js';
import type { ChatProvider, ProviderChatRequest, ProviderEmbedResult, ProviderEvent } from './types.js';
import { replayFirst } from './replay-first.js';

/** What a worker needs to run provider chains. */
export interface ChainSettings {
  /** Makes the provider called `name`; asked at most once per name per worker. */
  createProvider(name: ProviderName): ChatProvider;
  /** PROVIDER: the chain of an agent whose catalog entry lists none. */
  defaultProvider: ProviderName;
  /** LOCAL_PROVIDERS: the only providers a private request may use, and those that see secrets unmasked. */
  localProviders: readonly ProviderName[];
  breakers: BreakerSettings;
  /** Masks secrets before a non-local provider sees a request. */
  redactor: Redactor;
  /** Times the breakers' cooldowns; the system clock unless a test moves time itself. */
  clock?: Clock;
}

/** A request for a chain: the model comes from each link. */
export interface ChainRequest extends Omit<ProviderChatRequest, 'model'> {
  /** Only local providers may see it. */
  private: boolean;
}

/** A provider that produced its first event, with the rest of its answer still to come. */
export interface OpenedAnswer {
  provider: ProviderName;
  /** The model that answered: the provider's `servedModel`, else the link's model. */
  model: string;
  /** The first event again, then the rest. */
  events: AsyncIterable<ProviderEvent>;
  /** The steps away from the chain's first provider, in order (empty when it answered). */
  fallback: FallbackStep[];
}

/** An embeddings request for a chain: the model comes from each link. */
export interface ChainEmbedRequest {
  input: string[] | number[][];
  signal: AbortSignal;
  /** Only local providers may see it. */
  private: boolean;
}

/** The vectors of the first provider of the chain that answered. */
export interface EmbeddedInput extends ProviderEmbedResult {
  provider: ProviderName;
  model: string;
  fallback: FallbackStep[];
}

export interface ProviderChains {
  /** The agent's chain: its catalog `providers`, else PROVIDER with the agent's model. */
  linksOf(agent: Agent): readonly ProviderRef[];
  /** The worker's one instance of the provider called `name`. */
  provider(name: ProviderName): ChatProvider;
  /**
   * Tries the agent's chain in order until a provider yields its first event. A provider moves
   * the request on only when it fails before that event with a retryable error or a missing
   * model; any other error, an abort, or a failure after the first event is the caller's.
   */
  open(agent: Agent, request: ChainRequest, log: Logger): Promise<OpenedAnswer>;
  /** Embeds with the agent's chain, moving on exactly as `open` does (breakers, privacy, fallback). */
  embed(agent: Agent, request: ChainEmbedRequest, log: Logger): Promise<EmbeddedInput>;
  /**
   * Why no provider of the agent's chain may be called now — every one's circuit is open — or
   * undefined when one may (for `/ready`, through `$SRV.STATS`).
   */
  unavailable(agent: Agent): string | undefined;
}

async function firstEvent(
  provider: ChatProvider,
  request: ProviderChatRequest,
): Promise<{ first: ProviderEvent; rest: AsyncIterator<ProviderEvent> }> {
  const rest = provider.chat(request)[Symbol.asyncIterator]();
  const next = await rest.next();
  if (next.done)
    throw new AgentbusError(
      'backend_error',
      `${provider.name} at ${provider.endpoint} ended its answer before saying anything`,
    );
  return { first: next.value, rest };
}

/** The provider chains of one worker: its provider instances and their circuit breakers. */
export function createProviderChains(settings: ChainSettings, log: Logger): ProviderChains {
  const instances = new Map<ProviderName, ChatProvider>();
  const breakerOf = createBreakers(settings.breakers, log, settings.clock);
  const local = new Set(settings.localProviders);

  const provider = (name: ProviderName) => {
    let instance = instances.get(name);
    if (!instance) instances.set(name, (instance = settings.createProvider(name)));
    return instance;
  };
  const linksOf = (agent: Agent) => agent.providers ?? [{ provider: settings.defaultProvider, model: agent.model }];

  function unavailable(agent: Agent): string | undefined {
    const refusals = linksOf(agent).map((link) => {
      const refusal = breakerOf(link.provider).refusal();
      return refusal === undefined ? undefined : `${link.provider}: ${refusal}`;
    });
    return refusals.every((refusal) => refusal !== undefined) ? refusals.join('; ') : undefined;
  }

  // One run of the agent's chain: the shared loop (run-chain.ts) with the chat providers' names.
  const runOf = (agent: Agent): ChainRun<ProviderName, ChatProvider> => ({
    links: linksOf(agent),
    isLocal: (name) => local.has(name),
    breakerOf,
    provider,
    noLocal: (reasons) => noLocalProviderError(agent, reasons),
    noneLeft: (reasons, privacySkipped, retryAfterMs) => noProviderError(agent, reasons, privacySkipped, retryAfterMs),
  });

  async function open(agent: Agent, request: ChainRequest, reqLog: Logger): Promise<OpenedAnswer> {
    const { private: isPrivate, ...base } = request;
    let redacted: Omit<ProviderChatRequest, 'model'> | undefined;
    const { value, link, chosen, fallback } = await firstAnswer(
      runOf(agent),
      isPrivate,
      base.signal,
      reqLog,
      (chosen, link, isLocal) => {
        // Local providers see the request as the user wrote it; anything leaving the machine is
        // masked, in every string it carries (tool calls, tool definitions, schemas, stop sequences).
        const sent = isLocal ? base : (redacted ??= redactForProvider(base, settings.redactor));
        return firstEvent(chosen, { ...sent, model: link.model });
      },
    );
    const model = chosen.servedModel ?? link.model;
    return { provider: link.provider, model, events: replayFirst(value.first, value.rest), fallback };
  }

  async function embed(agent: Agent, request: ChainEmbedRequest, reqLog: Logger): Promise<EmbeddedInput> {
    const { input, signal } = request;
    let redacted: string[] | number[][] | undefined;
    const { value, link, chosen, fallback } = await firstAnswer(
      runOf(agent),
      request.private,
      signal,
      reqLog,
      (chosen, link, isLocal) => {
        if (!chosen.embed)
          throw new AgentbusError('invalid_request', `The ${chosen.name} provider has no embeddings.`, {
            param: 'model',
          });
        const text = isLocal ? input : (redacted ??= redactInput(input, settings.redactor));
        return chosen.embed({ model: link.model, input: text, signal });
      },
    );
    return { ...value, provider: link.provider, model: chosen.servedModel ?? link.model, fallback };
  }

  return { linksOf, provider, open, embed, unavailable };
}

/** Texts with their secrets masked, for a provider off this machine; token arrays pass as they are. */
function redactInput(input: string[] | number[][], redactor: Redactor): string[] | number[][] {
  return input.every((item) => typeof item === 'string') ? input.map((text) => redactor.redact(text)) : input;
}

/** The request with its secrets masked; `options.stop` is the only text inside the options. */
function redactForProvider(
  request: Omit<ProviderChatRequest, 'model'>,
  redactor: Redactor,
): Omit<ProviderChatRequest, 'model'> {
  const { stop, ...masked } = redactRequest(redactor, { ...request, stop: request.options.stop });
  if (stop === request.options.stop) return masked;
  return { ...masked, options: { ...request.options, stop: [...(stop ?? [])] } };
}

const PRIVACY_HINT =
  ' The request is private (X-Private, a private WebSocket chat, a secret in the input, or a private earlier turn' +
  " of the conversation): only providers named in the worker's LOCAL_PROVIDERS may take it. Add a local provider" +
  ' to the agent\'s "providers" in AGENTS_FILE, or name the provider in LOCAL_PROVIDERS if it runs on this machine.';

function noProviderError(
  agent: Agent,
  reasons: readonly string[],
  privacySkipped: boolean,
  retryAfterMs: number | undefined,
): AgentbusError {
  const hint = privacySkipped ? PRIVACY_HINT : '';
  return new AgentbusError(
    'no_provider_available',
    `No provider of agent "${agent.name}" can take the request now. ${reasons.join('; ')}.${hint}`,
    { retryAfterMs },
  );
}

// Its own code, not retryable: unlike an open circuit or a failing backend, waiting changes
// nothing, and the gateway and the SDKs (x-should-retry) would only send it again.
function noLocalProviderError(agent: Agent, reasons: readonly string[]): AgentbusError {
  return new AgentbusError(
    'no_local_provider',
    `No provider of agent "${agent.name}" may take this private request. ${reasons.join('; ')}.${PRIVACY_HINT}`,
  );
}
