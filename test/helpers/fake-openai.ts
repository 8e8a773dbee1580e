import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fakeEmbedding } from './fake-ollama.js';

/** How the fake answers the next chat completions. */
export interface FakeOpenAIBehaviour {
  tokens: string[];
  tokenDelayMs: number;
  toolCalls?: Array<{ name: string; arguments: string }>;
  /** Answer chat and embeddings with this status and an OpenAI error body instead (its `type`, `code`, headers). */
  failWith?: { status: number; message: string; type?: string; code?: string; headers?: Record<string, string> };
  /** Counted apart in the usage chunk's `completion_tokens_details`, as reasoning servers do. */
  reasoningTokens?: number;
  /** The context, in characters of the messages' JSON: longer prompts are refused, in the words of `server`. */
  contextChars?: number;
  /** Whose refusal of a prompt too long: OpenAI's (the default), llama-server's or vLLM's. */
  server?: 'openai' | 'llama-server' | 'vllm';
  /** End with this finish_reason (e.g. `content_filter`) in place of the one the answer would have. */
  finishReason?: string;
  /** Refuse in these pieces, as OpenAI does: `content: null`, the words in `refusal` (then no `tokens`). */
  refusal?: string[];
  /** Send no usage chunk even when asked, as servers that ignore `stream_options` do. */
  noUsage?: boolean;
  /** Wait before answering `/v1/embeddings` (cut short when the client closes the connection). */
  embedDelayMs?: number;
}

/** A prompt too long for the context, as each server answers it (HTTP 400). */
function contextRefusal(server: FakeOpenAIBehaviour['server'], context: number, length: number) {
  if (server === 'llama-server')
    return {
      error: {
        code: 400,
        message: 'the request exceeds the available context size, try increasing it',
        type: 'exceed_context_size_error',
        n_prompt_tokens: length,
        n_ctx: context,
      },
    };
  const message =
    `This model's maximum context length is ${context} tokens. However, you requested ${length} tokens ` +
    `(${length} in the messages, 0 in the completion). Please reduce the length of the messages or completion.`;
  if (server === 'vllm') return { error: { message, type: 'BadRequestError', param: null, code: 400 } };
  return { error: { message, type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } };
}

export interface FakeOpenAI {
  /** Base URL including `/v1`, as OPENAI_BASE_URL takes it. */
  readonly url: string;
  readonly requests: Array<{ body: Record<string, any>; authorization: string | undefined; aborted: boolean }>;
  /** Bodies of the `/v1/embeddings` requests, in order. */
  readonly embedRequests: Array<Record<string, any>>;
  /** How many `/v1/embeddings` requests the client closed before their answer. */
  readonly embedAborted: number;
  /** Changes how later chat completions are answered (over the defaults), dropping any still queued. */
  behave(behaviour: Partial<FakeOpenAIBehaviour>): void;
  /**
   * The next chat completions are answered by these, one each, in order; then `behave`'s again: a switch of
   * behaviour tied to the requests, not to a timer that races them.
   */
  behaveInTurn(behaviours: Array<Partial<FakeOpenAIBehaviour>>): void;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits `ms`, or less if the client closes the connection (then true): an aborted call is not waited out. */
function pauseUnlessClosed(ms: number, res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (closed: boolean) => {
      clearTimeout(timer);
      res.off('close', onClose);
      resolve(closed);
    };
    const onClose = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    res.once('close', onClose);
  });
}

/**
 * OpenAI's refusal of a message list whose tool messages do not follow their calls, in its words
 * (written here apart from agentbus's own checks, as the real API behaves): a `tool` message must
 * answer a call of the assistant message before it, and each call needs its result before the
 * conversation goes on. Undefined when the list is well formed.
 */
function toolSequenceError(messages: Array<Record<string, any>>): string | undefined {
  let open: Set<string> | undefined;
  for (const message of messages) {
    if (message['role'] === 'tool') {
      if (!open)
        return "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.";
      if (!open.delete(message['tool_call_id']))
        return `Invalid parameter: 'tool_call_id' of '${message['tool_call_id']}' not found in 'tool_calls' of previous message.`;
      continue;
    }
    if (open && open.size > 0)
      return (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. " +
        `The following tool_call_ids did not have response messages: ${[...open].join(', ')}`
      );
    const calls =
      message['role'] === 'assistant' ? (message['tool_calls'] as Array<{ id: string }> | undefined) : undefined;
    open = calls?.length ? new Set(calls.map((call) => call.id)) : undefined;
  }
  return undefined;
}

/**
 * A model backend speaking the OpenAI Chat Completions wire protocol (SSE chunks with tool-call
 * fragments and a usage chunk, `/v1/models`, OpenAI error bodies) over a real loopback socket:
 * the test double for the `openai` provider, as the fake Ollama is for `ollama`.
 */
export async function startFakeOpenAI(models: string[] = ['gpt-test']): Promise<FakeOpenAI> {
  const DEFAULTS: FakeOpenAIBehaviour = { tokens: ['Hello', ' from', ' upstream', '.'], tokenDelayMs: 0 };
  let behaviour = DEFAULTS;
  let queued: FakeOpenAIBehaviour[] = [];
  const requests: FakeOpenAI['requests'] = [];
  const embedRequests: FakeOpenAI['embedRequests'] = [];
  let embedAborted = 0;

  // Floats only, as the provider asks; a token array is embedded as its numbers joined by spaces.
  async function embed(req: IncomingMessage, res: ServerResponse) {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = JSON.parse(raw);
    embedRequests.push(body);
    if (behaviour.failWith) {
      const { status, message, code, type } = behaviour.failWith;
      return res
        .writeHead(status, { 'content-type': 'application/json', ...behaviour.failWith.headers })
        .end(JSON.stringify({ error: { message, type: type ?? 'invalid_request_error', param: null, code } }));
    }
    if (behaviour.embedDelayMs && (await pauseUnlessClosed(behaviour.embedDelayMs, res))) {
      embedAborted++;
      return;
    }
    const list: unknown[] =
      typeof body.input === 'string' || typeof body.input[0] === 'number' ? [body.input] : body.input;
    const texts = list.map((item) => (typeof item === 'string' ? item : (item as number[]).join(' ')));
    const data = texts.map((text, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(text) }));
    // In reverse order: clients must place vectors by `index`, not by position.
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        object: 'list',
        data: data.reverse(),
        model: body.model,
        usage: { prompt_tokens: texts.length * 2, total_tokens: texts.length * 2 },
      }),
    );
  }

  async function chat(req: IncomingMessage, res: ServerResponse) {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = JSON.parse(raw);
    const record = { body, authorization: req.headers.authorization, aborted: false };
    requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });
    const b = queued.shift() ?? behaviour;
    const error = (status: number, message: string, code: string | null = null, type = 'invalid_request_error') =>
      res
        .writeHead(status, { 'content-type': 'application/json', ...b.failWith?.headers })
        .end(JSON.stringify({ error: { message, type, param: null, code } }));
    if (b.failWith) {
      const { status, message, code, type } = b.failWith;
      return error(status, message, code ?? null, type);
    }
    const invalid = toolSequenceError(body.messages ?? []);
    if (invalid) return error(400, invalid);
    const length = JSON.stringify(body.messages ?? []).length;
    if (b.contextChars !== undefined && length > b.contextChars)
      return res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify(contextRefusal(b.server, b.contextChars, length)));
    if (!models.includes(body.model))
      return error(404, `The model \`${body.model}\` does not exist`, 'model_not_found');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (delta: object, finish: string | null = null, usage: object | null = null) =>
      res.write(
        `data: ${JSON.stringify({ id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1, model: body.model, choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }], usage })}\n\n`,
      );
    chunk(b.refusal ? { role: 'assistant', content: null, refusal: '' } : { role: 'assistant', content: '' });
    for (const piece of b.refusal ?? []) chunk({ refusal: piece });
    for (const token of b.refusal ? [] : b.tokens) {
      if (res.destroyed) return;
      chunk({ content: token });
      if (b.tokenDelayMs) await sleep(b.tokenDelayMs);
    }
    for (const [index, call] of (b.toolCalls ?? []).entries()) {
      chunk({
        tool_calls: [{ index, id: `call_up${index}`, type: 'function', function: { name: call.name, arguments: '' } }],
      });
      const half = Math.ceil(call.arguments.length / 2);
      chunk({ tool_calls: [{ index, function: { arguments: call.arguments.slice(0, half) } }] });
      chunk({ tool_calls: [{ index, function: { arguments: call.arguments.slice(half) } }] });
    }
    const maxTokens = body.max_tokens ?? Infinity;
    chunk(
      {},
      b.finishReason ?? (b.toolCalls?.length ? 'tool_calls' : b.tokens.length >= maxTokens ? 'length' : 'stop'),
    );
    if (body.stream_options?.include_usage && !b.noUsage)
      chunk({}, null, {
        prompt_tokens: 9,
        completion_tokens: b.tokens.length,
        total_tokens: 9 + b.tokens.length,
        ...(b.reasoningTokens !== undefined
          ? { completion_tokens_details: { reasoning_tokens: b.reasoningTokens } }
          : {}),
      });
    res.end('data: [DONE]\n\n');
  }

  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v1/models') {
      return res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          object: 'list',
          data: models.map((id) => ({ id, object: 'model', created: 1, owned_by: 'fake' })),
        }),
      );
    }
    if (req.method === 'POST' && req.url === '/v1/chat/completions') return void chat(req, res);
    if (req.method === 'POST' && req.url === '/v1/embeddings') return void embed(req, res);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    embedRequests,
    get embedAborted() {
      return embedAborted;
    },
    behave(next) {
      behaviour = { ...DEFAULTS, ...next };
      queued = [];
    },
    behaveInTurn(list) {
      queued = list.map((next) => ({ ...DEFAULTS, ...next }));
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
