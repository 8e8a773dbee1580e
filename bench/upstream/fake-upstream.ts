import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the fake model answers; changed at run time with `POST /__bench/config`. */
export interface UpstreamBehaviour {
  /** Tokens in every answer. */
  tokens: number;
  /** Wait before the first token (and before a non-streamed answer): the model's latency. */
  latencyMs: number;
  /** Wait between streamed tokens; 0 writes the whole stream at once. */
  tokenDelayMs: number;
}

export const DEFAULT_BEHAVIOUR: UpstreamBehaviour = Object.freeze({ tokens: 16, latencyMs: 0, tokenDelayMs: 0 });

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
// Every token is the same short word: the answer's length, not its text, is what costs.
const TOKEN = 'tok ';

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

async function readJson(req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/**
 * Writes `lines` one per token: all at once (corked into one socket write) when there is no
 * delay, else one per `tokenDelayMs`. Stops quietly when the client leaves.
 */
async function streamLines(res: ServerResponse, lines: string[], last: string, b: UpstreamBehaviour): Promise<void> {
  if (b.latencyMs > 0) await sleep(b.latencyMs);
  if (b.tokenDelayMs === 0) {
    res.cork();
    for (const line of lines) res.write(line);
    res.end(last);
    return;
  }
  for (const line of lines) {
    if (res.destroyed) return;
    res.write(line);
    await sleep(b.tokenDelayMs);
  }
  res.end(last);
}

/** Ollama's `/api/chat`, NDJSON streaming or one JSON object, as test/helpers/fake-ollama.ts speaks it. */
async function ollamaChat(req: IncomingMessage, res: ServerResponse, b: UpstreamBehaviour): Promise<void> {
  const body = await readJson(req);
  const model = String(body.model ?? 'bench');
  const created_at = new Date().toISOString();
  const final = {
    done_reason: 'stop',
    total_duration: 1_000_000,
    load_duration: 1000,
    prompt_eval_count: 8,
    prompt_eval_duration: 1000,
    eval_count: b.tokens,
    eval_duration: 1000,
  };
  if (body.stream === false) {
    if (b.latencyMs > 0) await sleep(b.latencyMs);
    return sendJson(res, 200, {
      model,
      created_at,
      message: { role: 'assistant', content: TOKEN.repeat(b.tokens) },
      done: true,
      ...final,
    });
  }
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  res.flushHeaders();
  const line =
    JSON.stringify({ model, created_at, message: { role: 'assistant', content: TOKEN }, done: false }) + '\n';
  const last =
    JSON.stringify({ model, created_at, message: { role: 'assistant', content: '' }, done: true, ...final }) + '\n';
  await streamLines(res, new Array<string>(b.tokens).fill(line), last, b);
}

/** OpenAI's `/v1/chat/completions`, JSON or SSE ending in `data: [DONE]`: the route a peer gateway forwards to. */
async function openaiChat(
  req: IncomingMessage,
  res: ServerResponse,
  b: UpstreamBehaviour,
  next: () => number,
): Promise<void> {
  const body = await readJson(req);
  const model = String(body.model ?? 'bench');
  const id = `chatcmpl-bench-${next()}`;
  const created = Math.floor(Date.now() / 1000);
  const usage = { prompt_tokens: 8, completion_tokens: b.tokens, total_tokens: 8 + b.tokens };
  if (body.stream !== true) {
    if (b.latencyMs > 0) await sleep(b.latencyMs);
    return sendJson(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: TOKEN.repeat(b.tokens) }, finish_reason: 'stop' }],
      usage,
    });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
  const chunk = (delta: object, finish: string | null) =>
    'data: ' +
    JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    }) +
    '\n\n';
  const lines = new Array<string>(b.tokens).fill(chunk({ content: TOKEN }, null));
  lines.unshift(chunk({ role: 'assistant', content: '' }, null));
  await streamLines(res, lines, `${chunk({}, 'stop')}data: [DONE]\n\n`, b);
}

export interface RunningUpstream {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/**
 * A model backend built for speed, so that it is never what a benchmark measures: plain
 * node:http, answers pre-encoded, no recording. Speaks Ollama (`/api/chat`, `/api/tags`,
 * `/api/version`, `/api/show`, which the worker probes) and OpenAI (`/v1/chat/completions`,
 * `/v1/models`) so agentbus, a peer gateway and a direct client all hit the same server.
 */
export async function startFakeUpstream(initial: Partial<UpstreamBehaviour> = {}, port = 0): Promise<RunningUpstream> {
  let behaviour: UpstreamBehaviour = { ...DEFAULT_BEHAVIOUR, ...initial };
  let counter = 0;
  const fail = (res: ServerResponse) => (err: Error) => {
    if (!res.headersSent) sendJson(res, 400, { error: err.message });
    else res.destroy();
  };
  const server = createServer((req, res) => {
    const route = `${req.method} ${req.url}`;
    if (route === 'POST /api/chat') return void ollamaChat(req, res, behaviour).catch(fail(res));
    if (route === 'POST /v1/chat/completions')
      return void openaiChat(req, res, behaviour, () => ++counter).catch(fail(res));
    if (route === 'GET /api/version') return sendJson(res, 200, { version: '0.6.0' });
    if (route === 'GET /api/tags')
      return sendJson(res, 200, {
        models: [
          {
            name: 'bench:latest',
            model: 'bench:latest',
            modified_at: new Date().toISOString(),
            size: 1,
            digest: 'sha256:0',
            details: {},
          },
        ],
      });
    if (route === 'POST /api/show')
      return sendJson(res, 200, {
        modelfile: '',
        parameters: '',
        template: '',
        details: {},
        model_info: {},
        capabilities: ['completion', 'tools'],
      });
    if (route === 'GET /v1/models')
      return sendJson(res, 200, {
        object: 'list',
        data: [{ id: 'bench', object: 'model', created: 0, owned_by: 'bench' }],
      });
    if (route === 'GET /__bench/config') return sendJson(res, 200, behaviour);
    if (route === 'POST /__bench/config') {
      return void readJson(req).then((next: Partial<UpstreamBehaviour>) => {
        behaviour = { ...behaviour, ...next };
        sendJson(res, 200, behaviour);
      }, fail(res));
    }
    sendJson(res, 404, { error: `fake upstream: no route ${route}` });
  });
  // Many concurrent benchmark connections: no keep-alive cut-off mid-run.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
