import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the fake answers the next /api/chat requests. */
export interface FakeOllamaBehaviour {
  /** Tokens of the answer, streamed one NDJSON line each. */
  tokens: string[];
  /** Tokens made from the request (and its number at this fake, from 0), instead of `tokens`. */
  tokensFor?: (request: RecordedChatRequest, index: number) => string[];
  /** Wait before the first line (headers are sent at once, as Ollama does). */
  firstTokenDelayMs: number;
  /** Wait between lines. */
  tokenDelayMs: number;
  /** Extra wait between the last token and the final (`done`) line: the moment "every token, no end yet". */
  endDelayMs?: number;
  /** Answer with this HTTP status and `{"error": message}` instead of streaming. */
  failWith?: { status: number; message: string };
  /** Destroy the socket after this many tokens: a backend dying mid-stream. */
  dieAfterTokens?: number;
  doneReason: 'stop' | 'length';
  promptEvalCount: number;
  /** Thinking streamed before the tokens, in `message.thinking` (Ollama with `think`). */
  thinking?: string[];
  /** Tool calls the model makes (after the tokens, in one line, as Ollama streams them). */
  toolCalls?: Array<{ name: string; arguments: Record<string, unknown> }>;
}

/** A request as the fake received it. */
export interface RecordedChatRequest {
  model: string;
  messages: Array<{
    role: string;
    content: string;
    images?: string[];
    tool_calls?: Array<{ function: { name: string; arguments: Record<string, unknown> } }>;
    tool_name?: string;
  }>;
  stream?: boolean;
  options?: Record<string, unknown>;
  format?: unknown;
  tools?: Array<{ type: string; function: { name: string; description?: string; parameters?: unknown } }>;
  /** The whole request body as sent. */
  body: Record<string, unknown>;
  /** Set when the client closed the connection before the answer was complete. */
  aborted: boolean;
  /** When the request arrived (Date.now()). */
  receivedAt: number;
  /** When the fake ended its answer or the connection closed, whichever came first. */
  endedAt?: number;
}

/**
 * The vector the fake's `/api/embed` makes for a text: 4 unit-length values from its characters,
 * so tests can recompute what they should get.
 */
export function fakeEmbedding(text: string): number[] {
  const codes = [...text].map((c) => c.codePointAt(0)!);
  const raw = [text.length + 1, codes.reduce((a, b) => a + b, 0) % 97, codes[0] ?? 1, 3];
  const norm = Math.hypot(...raw);
  return raw.map((value) => value / norm);
}

export interface FakeOllama {
  readonly url: string;
  readonly requests: RecordedChatRequest[];
  /** Bodies of the `/api/embed` requests, in order. */
  readonly embedRequests: Array<{ model: string; input: string | string[] }>;
  /** Changes how later requests are answered (merged over the defaults). */
  behave(behaviour: Partial<FakeOllamaBehaviour>): void;
  /** The next requests are answered by these, one each, in order; then `behave`'s again. */
  behaveInTurn(behaviours: Array<Partial<FakeOllamaBehaviour>>): void;
  /**
   * Holds every /api/chat answer that starts from now on (a stream after its headers) until the
   * returned function is called: requests stay in flight exactly as long as a test needs.
   */
  hold(): () => void;
  close(): Promise<void>;
}

const DEFAULTS: FakeOllamaBehaviour = {
  tokens: ['Hello', ' from', ' the', ' fake', ' model', '.'],
  firstTokenDelayMs: 0,
  tokenDelayMs: 0,
  doneReason: 'stop',
  promptEvalCount: 12,
};

/**
 * Waits `ms`, or less if the client closes the connection: an aborted request's long delay
 * neither runs on in the background nor keeps the test process alive.
 */
function pause(ms: number, res: ServerResponse): Promise<void> {
  if (ms <= 0 || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.once('close', done);
  });
}

async function readJson(req: IncomingMessage): Promise<any> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return JSON.parse(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(value));
}

/**
 * The only test double in the suite: a model backend speaking Ollama's real HTTP protocol
 * (`/api/chat` NDJSON streaming and non-streaming with tool calls, `/api/embed`, `/api/show`, `/api/tags`,
 * `/api/version`) over a real
 * socket on loopback. It records what it was sent and can be slow, fail, or die mid-stream.
 */
export async function startFakeOllama(
  models: string[] = ['llama3.2:latest'],
  options: { visionModels?: string[]; host?: string } = {},
): Promise<FakeOllama> {
  let behaviour: FakeOllamaBehaviour = { ...DEFAULTS };
  let queued: FakeOllamaBehaviour[] = [];
  const requests: RecordedChatRequest[] = [];
  const embedRequests: Array<{ model: string; input: string | string[] }> = [];
  let held: Promise<void> = Promise.resolve();

  const line = (model: string, content: string, done: boolean, extra: Record<string, unknown> = {}) =>
    `${JSON.stringify({ model, created_at: new Date().toISOString(), message: { role: 'assistant', content }, done, ...extra })}\n`;

  async function chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req);
    const recorded: RecordedChatRequest = {
      model: body.model,
      messages: body.messages,
      stream: body.stream,
      options: body.options,
      format: body.format,
      tools: body.tools,
      body,
      aborted: false,
      receivedAt: Date.now(),
    };
    requests.push(recorded);
    const queuedBehaviour = queued.shift() ?? behaviour;
    const b = queuedBehaviour.tokensFor
      ? { ...queuedBehaviour, tokens: queuedBehaviour.tokensFor(recorded, requests.length - 1) }
      : queuedBehaviour;
    res.on('close', () => {
      if (!res.writableFinished) recorded.aborted = true;
      recorded.endedAt ??= Date.now();
    });
    // Before the last byte goes out, so the client cannot see the end before this is set.
    const end = () => (recorded.endedAt ??= Date.now());
    if (b.failWith) {
      end();
      return sendJson(res, b.failWith.status, { error: b.failWith.message });
    }
    if (!models.some((m) => m === body.model || m === `${body.model}:latest`)) {
      end();
      return sendJson(res, 404, { error: `model '${body.model}' not found, try pulling it first` });
    }
    const final = {
      done_reason: b.doneReason,
      total_duration: 1_000_000,
      load_duration: 1000,
      prompt_eval_count: b.promptEvalCount,
      prompt_eval_duration: 1000,
      eval_count: b.tokens.length,
      eval_duration: 1000,
    };
    // Ollama sends complete tool calls in one message; it reports done_reason "stop" after them.
    const toolCalls = b.toolCalls?.map((call) => ({ function: { name: call.name, arguments: call.arguments } }));
    const gate = held;
    if (body.stream === false) {
      await gate;
      await pause(b.firstTokenDelayMs, res);
      const answer = JSON.parse(line(body.model, b.tokens.join(''), true, final));
      if (toolCalls) answer.message.tool_calls = toolCalls;
      end();
      return sendJson(res, 200, answer);
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.flushHeaders();
    await gate;
    await pause(b.firstTokenDelayMs, res);
    for (const thought of b.thinking ?? []) {
      if (res.destroyed) return;
      const message = { role: 'assistant', content: '', thinking: thought };
      res.write(
        `${JSON.stringify({ model: body.model, created_at: new Date().toISOString(), message, done: false })}\n`,
      );
    }
    for (const [index, token] of b.tokens.entries()) {
      if (res.destroyed) return;
      if (b.dieAfterTokens !== undefined && index >= b.dieAfterTokens) {
        res.socket?.destroy();
        return;
      }
      res.write(line(body.model, token, false));
      await pause(b.tokenDelayMs, res);
    }
    if (toolCalls)
      res.write(
        `${JSON.stringify({ model: body.model, created_at: new Date().toISOString(), message: { role: 'assistant', content: '', tool_calls: toolCalls }, done: false })}\n`,
      );
    await pause(b.endDelayMs ?? 0, res);
    if (res.destroyed) return;
    end();
    res.end(line(body.model, '', true, final));
  }

  const server: Server = createServer((req, res) => {
    const route = `${req.method} ${req.url}`;
    if (route === 'GET /api/version') return sendJson(res, 200, { version: '0.6.0' });
    if (route === 'GET /api/tags') {
      return sendJson(res, 200, {
        models: models.map((name) => ({
          name,
          model: name,
          modified_at: new Date().toISOString(),
          size: 1,
          digest: 'sha256:0',
          details: {},
        })),
      });
    }
    if (route === 'POST /api/show') {
      readJson(req).then(
        (body: { model?: string }) => {
          const name = String(body.model ?? '');
          if (!models.some((m) => m === name || m === `${name}:latest`))
            return sendJson(res, 404, { error: `model '${name}' not found` });
          const vision = options.visionModels?.some((m) => m === name || m === `${name}:latest`) ?? false;
          sendJson(res, 200, {
            modelfile: '',
            parameters: '',
            template: '',
            details: {},
            model_info: {},
            capabilities: vision ? ['completion', 'tools', 'vision'] : ['completion', 'tools'],
          });
        },
        () => sendJson(res, 400, { error: 'invalid JSON' }),
      );
      return;
    }
    if (route === 'POST /api/embed') {
      readJson(req).then(
        (body: { model: string; input: string | string[] }) => {
          embedRequests.push(body);
          if (behaviour.failWith)
            return sendJson(res, behaviour.failWith.status, { error: behaviour.failWith.message });
          if (!models.some((m) => m === body.model || m === `${body.model}:latest`))
            return sendJson(res, 404, { error: `model "${body.model}" not found, try pulling it first` });
          const texts = typeof body.input === 'string' ? [body.input] : body.input;
          sendJson(res, 200, {
            model: body.model,
            embeddings: texts.map(fakeEmbedding),
            total_duration: 1,
            load_duration: 0,
            prompt_eval_count: texts.reduce((sum, text) => sum + text.split(' ').length, 0),
          });
        },
        () => sendJson(res, 400, { error: 'invalid JSON' }),
      );
      return;
    }
    if (route === 'POST /api/chat') {
      chat(req, res).catch((err: Error) => {
        if (!res.headersSent) sendJson(res, 400, { error: err.message });
        else res.destroy();
      });
      return;
    }
    sendJson(res, 404, { error: `fake ollama: no route ${route}` });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host}:${port}`,
    requests,
    embedRequests,
    behave: (next) => {
      behaviour = { ...DEFAULTS, ...next };
      queued = [];
    },
    behaveInTurn: (list) => {
      queued = list.map((next) => ({ ...DEFAULTS, ...next }));
    },
    hold: () => {
      let release!: () => void;
      held = new Promise((resolve) => {
        release = resolve;
      });
      return () => {
        release();
        held = Promise.resolve();
      };
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
