import { Writable } from 'node:stream';
import { AgentbusError, type ErrorCode } from '../../bus-schemas/index.js';
import type { Agent, ProviderRef } from '../../common/catalog.js';
import { createLogger, type Logger } from '../../common/logger.js';
import type { ProviderName } from '../../workers/providers/index.js';
import type { ChatProvider, ProviderChatRequest, ProviderEvent } from '../../workers/providers/types.js';

/** How a fake provider answers one call. */
export type Behaviour = (request: ProviderChatRequest) => AsyncIterable<ProviderEvent>;

/**
 * A provider behind our own `ChatProvider` seam, scripted by the test: it records every call,
 * answers with `behave`, and counts the answers whose stream was closed (finished or stopped).
 */
export class FakeProvider implements ChatProvider {
  readonly calls: ProviderChatRequest[] = [];
  behave: Behaviour = answers('hello');
  closed = 0;

  constructor(
    readonly name: ProviderName,
    readonly endpoint = `http://${name}.test`,
  ) {}

  chat(request: ProviderChatRequest): AsyncIterable<ProviderEvent> {
    this.calls.push(request);
    const events = this.behave(request);
    const onClosed = () => this.closed++;
    return (async function* () {
      try {
        yield* events;
      } finally {
        onClosed();
      }
    })();
  }

  probe(): Promise<{ reachable: boolean; missingModels: string[] }> {
    return Promise.resolve({ reachable: true, missingModels: [] });
  }
}

const done: ProviderEvent = { type: 'done', finishReason: 'stop', usage: usage() };

function usage() {
  return { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
}

/** Answers with these content fragments, then `done`. */
export function answers(...tokens: string[]): Behaviour {
  return async function* () {
    for (const content of tokens) yield { type: 'delta', content };
    yield done;
  };
}

/** Fails before saying anything, with `code` (a retryable one says the backend is unwell). */
export function fails(code: ErrorCode, message = `fake ${code}`): Behaviour {
  // eslint-disable-next-line require-yield -- a provider that throws before its first event
  return async function* () {
    throw new AgentbusError(code, message);
  };
}

/** Says `tokens`, then fails with `code`: past the first event, nothing may switch providers. */
export function failsAfter(tokens: string[], code: ErrorCode): Behaviour {
  return async function* () {
    for (const content of tokens) yield { type: 'delta', content };
    throw new AgentbusError(code, `fake ${code} mid-answer`);
  };
}

/** Ends its stream without any event. */
export function saysNothing(): Behaviour {
  return async function* () {};
}

/**
 * Waits until the test calls `release` (then answers `tokens`) or the request aborts (then
 * throws what a real provider throws on abort: a retryable error, which must not count).
 */
export function heldOpen(tokens: string[] = ['late']): { behave: Behaviour; release(): void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return {
    release: () => release(),
    behave: async function* (request) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(new AgentbusError('backend_unreachable', 'fake call aborted'));
        if (request.signal.aborted) onAbort();
        request.signal.addEventListener('abort', onAbort, { once: true });
        released.then(resolve, reject);
      });
      for (const content of tokens) yield { type: 'delta', content };
      yield done;
    },
  };
}

/** An agent as the catalog makes it; `providers` undefined means the worker's PROVIDER. */
export function agentWith(name: string, providers?: ProviderRef[]): Agent {
  return {
    name,
    description: `${name} agent`,
    kind: 'chat',
    systemPrompt: `You are ${name}.`,
    matryoshka: false,
    model: 'agent-model',
    options: {},
    historyTurns: 0,
    examples: [],
    providers,
    fallback: undefined,
    timeouts: {},
  };
}

/** A logger whose JSON lines the test can read. */
export function recordingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { log: createLogger('unit', { level: 'debug', destination: sink }), lines };
}

/** Everything an async iterable yields, in order. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
