import { Agent, request as httpRequest, validateHeaderName, validateHeaderValue } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import { ERROR_TABLE, isErrorCode } from '../../bus-schemas/index.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { dice, hostileBody, oddString, withBadBytes, type Dice } from '../helpers/fuzz-inputs.js';
import { sleep, waitUntil } from '../helpers/wait.js';
import { openLiveClient, type LiveClient } from '../helpers/ws-client.js';

// Seeded and bounded: FUZZ_SEED replays a run (the seed is printed), FUZZ_COUNT sets the total
// number of generated inputs (a fifth of them go over the WebSocket).
const SEED = Number(process.env['FUZZ_SEED'] ?? 20_240_607);
const COUNT = Number(process.env['FUZZ_COUNT'] ?? 10_000);
const WS_COUNT = Math.floor(COUNT / 5);
const HTTP_COUNT = COUNT - WS_COUNT;
const CONCURRENCY = 16;
const BODY_LIMIT = 1024 * 1024;
t.comment(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} FUZZ_COUNT=${COUNT} replays this run)`);
t.setTimeout(240_000);

const stack = await startStack({ env: { BODY_LIMIT_BYTES: String(BODY_LIMIT) } });
t.teardown(() => stack.close());
const port = Number(new URL(stack.baseUrl).port);
const turnIds = async () =>
  (await stack.db.selectFrom('turns').select('request_id').execute()).map((row) => row.request_id.split('.')[0]!);
const prototypeKeys = () => Object.getOwnPropertyNames(Object.prototype).sort();
const PROTOTYPE_BEFORE = prototypeKeys();

const PATHS = [
  '/v1/chat/completions',
  '/v1/chat/completions',
  '/v1/chat/completions',
  '/v1/chat/stream',
  '/query',
  '/api/generate',
  '/agents/testing/v1/chat/completions',
  '/agents/nope/v1/chat/completions',
  '/v1/embeddings',
  '/v1/models',
];
const CONTENT_TYPES = [
  'application/json',
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/jsonx',
  'APPLICATION/JSON',
  'application/json; charset=utf-16',
  '',
];

/** Headers for one request: mostly the right ones, sometimes odd (invalid ones Node refuses to send are dropped). */
function headersFor(d: Dice): Record<string, string> {
  const headers: Record<string, string> = {
    authorization: d.chance(0.95) ? AUTH.authorization : d.pick(['Bearer nope', 'Basic x', '', 'Bearer ']),
  };
  // Mostly JSON, so most bodies reach the parser and the validators rather than the 415.
  const type = d.chance(0.85) ? 'application/json' : d.pick(CONTENT_TYPES);
  if (type) headers['content-type'] = type;
  if (d.chance(0.15))
    headers[
      d.pick([
        'x-session-id',
        'traceparent',
        'cache-control',
        'x-priority',
        'x-private',
        'x-request-timeout-ms',
        'accept',
        'x-forwarded-for',
        '__proto__',
        'constructor',
      ])
    ] = d.chance(0.5) ? oddString(d) : 'x'.repeat(d.int(2000));
  for (const [name, value] of Object.entries(headers)) {
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      delete headers[name];
    }
  }
  return headers;
}

interface Outcome {
  status: number;
  body: string;
  requestId: string | undefined;
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
t.teardown(() => agent.destroy());
function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | Buffer | undefined,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          requestId: res.headers['x-request-id'] as string | undefined,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Problems found, reported together at the end with the index that replays each. */
const problems: string[] = [];
const accepted = new Set<string>();
const families: Record<string, number> = {};
const statuses: Record<number, number> = {};

function checkErrorBody(where: string, status: number, text: string) {
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    problems.push(`${where}: ${status} with a body that is not JSON: ${text.slice(0, 200)}`);
    return;
  }
  const error = body?.error;
  const shapeOk =
    body !== null &&
    Object.keys(body).length === 1 &&
    error &&
    ['code', 'message', 'param', 'type'].every((k) => k in error) &&
    Object.keys(error).length === 4;
  if (!shapeOk || !isErrorCode(error.code) || ERROR_TABLE[error.code as keyof typeof ERROR_TABLE].status !== status)
    problems.push(`${where}: ${status} not in the OpenAI error shape of a table row: ${text.slice(0, 300)}`);
}

async function fuzzHttp(index: number) {
  const d = dice(SEED, index);
  const path = d.pick(PATHS);
  const method = d.chance(0.97) ? 'POST' : d.pick(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
  const { family, body } =
    path === '/query' || path === '/api/generate'
      ? { family: 'legacy', body: legacyBody(d) }
      : hostileBody(d, 2 * BODY_LIMIT);
  families[family] = (families[family] ?? 0) + 1;
  const size = Buffer.byteLength(body);
  let outcome: Outcome;
  try {
    outcome = await send(method, path, headersFor(d), body);
  } catch (err) {
    // A body over the limit may be cut off while it is still being sent: that is the refusal.
    if (size > BODY_LIMIT && /ECONNRESET|EPIPE/.test((err as Error).message)) return;
    problems.push(`http #${index} (${family}, ${size} bytes): ${(err as Error).message}`);
    return;
  }
  statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1;
  if (outcome.status >= 500)
    problems.push(`http #${index} (${family}) ${method} ${path}: ${outcome.status} ${outcome.body.slice(0, 300)}`);
  else if (outcome.status >= 400) checkErrorBody(`http #${index} (${family})`, outcome.status, outcome.body);
  else if (outcome.requestId) accepted.add(outcome.requestId);
}

/** Legacy bodies: a valid one mutated (the agent named, so the router never fans out). */
function legacyBody(d: Dice): string | Buffer {
  const body: Record<string, unknown> = d.chance(0.5)
    ? { query: 'hi', agent: 'testing' }
    : { prompt: 'hi', model: 'testing', stream: d.chance(0.5) };
  const field = d.pick([
    'query',
    'prompt',
    'system',
    'agent',
    'model',
    'session_id',
    'images',
    'format',
    'options',
    'context',
    'raw',
    'stream',
    '__proto__',
  ]);
  Object.defineProperty(body, field, {
    value: d.chance(0.3)
      ? oddString(d)
      : d.chance(0.5)
        ? 'x'.repeat(d.pick([10, 200_001, 300_000]))
        : { constructor: { prototype: {} } },
    enumerable: true,
  });
  const text = JSON.stringify(body);
  return d.chance(0.1) ? withBadBytes(d, text) : text;
}

/** A raw request Node's client would refuse to write: broken request lines, bad header bytes, oversized heads. */
function rawRequest(d: Dice): Promise<string> {
  const head = d.pick([
    `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n{"a":`,
    `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
    `GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    `GET /health HTTP/1.1\r\nHost: localhost\r\nBad Header: 1\r\n\r\n`,
    `GET /\u0000 HTTP/1.1\r\n\r\n`,
    `BREW /coffee HTCPCP/1.0\r\n\r\n`,
    `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n{}`,
  ]);
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(head));
    let text = '';
    socket.setTimeout(5000, () => socket.destroy());
    socket
      .on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      })
      .on('close', () => resolve(text))
      .on('error', () => resolve(text));
  });
}

t.test(`HTTP: ${HTTP_COUNT} generated requests, ${CONCURRENCY} at a time`, async (t) => {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < HTTP_COUNT) await fuzzHttp(next++);
    }),
  );
  for (let i = 0; i < 20; i++) {
    const raw = await rawRequest(dice(SEED, 1_000_000 + i));
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
    if (status >= 500) problems.push(`raw #${i}: ${raw.slice(0, 200)}`);
    else if (status >= 400) checkErrorBody(`raw #${i}`, status, raw.slice(raw.indexOf('\r\n\r\n') + 4));
  }
  t.comment(`families ${JSON.stringify(families)}; statuses ${JSON.stringify(statuses)}; accepted ${accepted.size}`);
  t.same(problems, [], 'no 5xx, no crash, every error in the OpenAI shape');
});

/** The request id of a frame the gateway would take as a chat request (JSON parsed as it parses it). */
function chatIdOf(text: string, binary: boolean): string | undefined {
  if (binary) return undefined; // refused, whatever it holds
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { type, id } = value as Record<string, unknown>;
    return type === 'chat' && typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** A chat request the gateway did not refuse at once: it ends with a done or error frame of its id. */
interface Accepted {
  id: string;
  /** Index in the client's frames at which its answer may start. */
  from: number;
}

const ended = (client: LiveClient, request: Accepted) =>
  client.frames.slice(request.from).some((f) => (f.type === 'done' || f.type === 'error') && f.id === request.id);

/** Waits (bounded) until every accepted request has its terminal frame, or the socket closed. */
async function settle(client: LiveClient, accepted: Accepted[], wsProblems: string[]): Promise<void> {
  const settled = () => client.socket.readyState !== client.socket.OPEN || accepted.every((r) => ended(client, r));
  if (!(await waitUntil(settled, 30_000)))
    wsProblems.push(`ws: no terminal frame for ${JSON.stringify(accepted.filter((r) => !ended(client, r)))}`);
}

/** One socket's share of the WebSocket frames, sent in order; a ping after each keeps them in step. */
async function fuzzSocket(socketIndex: number, frames: number, wsProblems: string[], done: Set<string>): Promise<void> {
  const client = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
  await client.next((f) => f.type === 'ready');
  const accepted: Accepted[] = [];
  for (let i = 0; i < frames; i++) {
    const index = 2_000_000 + socketIndex * frames + i;
    const d = dice(SEED, index);
    const { body } = hostileBody(d, BODY_LIMIT / 2);
    // Text frames must be UTF-8 (ws closes with 1007 otherwise, see below): bad bytes become
    // the characters they would decode to as Latin-1.
    const text = typeof body === 'string' ? body : body.toString('latin1');
    // The chat frame is the body with a type and id spliced in, when the body is an object.
    const id = `f${index}`;
    const frame =
      text.startsWith('{') && d.chance(0.9)
        ? `{"type":"${d.chance(0.95) ? 'chat' : d.pick(['auth', 'cancel', 'ping', 'nope'])}","id":"${id}",${text.slice(1)}`
        : text;
    const binary = d.chance(0.02);
    const from = client.frames.length;
    client.socket.send(frame, { binary });
    client.send({ type: 'ping', id: `sync${index}` });
    try {
      await client.next((f) => f.type === 'pong' && f.id === `sync${index}`, 10_000);
    } catch (err) {
      wsProblems.push(`ws #${index}: ${(err as Error).message.slice(0, 300)}`);
      break;
    }
    // A refusal is sent at once, before the pong; an untagged one is this frame's (a tagged one
    // carries the id, and ends the request as its terminal frame would).
    const chatId = chatIdOf(frame, binary);
    const pong = client.frames.findIndex((f, at) => at >= from && f.type === 'pong' && f.id === `sync${index}`);
    const refused = client.frames.slice(from, pong).some((f) => f.type === 'error' && f.id === null);
    if (chatId !== undefined && !refused) accepted.push({ id: chatId, from });
  }
  await settle(client, accepted, wsProblems);
  for (const frame of client.frames) {
    if (frame.type === 'done') done.add(frame.completion_id);
    if (frame.type === 'error' && (!isErrorCode(frame.error.code) || ERROR_TABLE[frame.error.code].status >= 500))
      wsProblems.push(`ws socket ${socketIndex}: ${JSON.stringify(frame).slice(0, 300)}`);
  }
  if (client.invalidFrames.length > 0)
    wsProblems.push(
      `ws socket ${socketIndex}: frames breaking the schema: ${JSON.stringify(client.invalidFrames).slice(0, 300)}`,
    );
  client.socket.terminate();
}

const wsDone = new Set<string>();
t.test(`WebSocket: ${WS_COUNT} generated frames on 4 sockets`, async (t) => {
  const wsProblems: string[] = [];
  await Promise.all([0, 1, 2, 3].map((s) => fuzzSocket(s, Math.ceil(WS_COUNT / 4), wsProblems, wsDone)));
  // Text frames that are not UTF-8: ws closes the socket with 1007, the gateway carries on.
  for (let i = 0; i < 5; i++) {
    const d = dice(SEED, 3_000_000 + i);
    const client = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
    await client.next((f) => f.type === 'ready');
    client.socket.send(withBadBytes(d, '{"type":"ping","id":"x"}'), { binary: false });
    const closed = await Promise.race([client.closed, sleep(5000).then(() => undefined)]);
    if (closed?.code !== 1007)
      wsProblems.push(`ws bad UTF-8 #${i}: ${closed ? `closed ${closed.code}` : 'not closed'}`);
    client.socket.terminate();
  }
  t.comment(`accepted over WebSocket: ${wsDone.size}`);
  t.same(wsProblems, [], 'no 5xx error frame, no schema break, sockets stay usable');
});

t.test('afterwards: nothing polluted, memory holds only accepted turns, both processes answer', async (t) => {
  t.same(prototypeKeys(), PROTOTYPE_BEFORE, 'Object.prototype has the same properties as before');
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype has no "polluted"');
  const expected = new Set([...accepted, ...wsDone]);
  // The last answers' turns may still be on their way to the database.
  await waitUntil(async () => (await turnIds()).length >= expected.size, 5000);
  const rows = await turnIds();
  t.same(
    rows.filter((id) => !expected.has(id)),
    [],
    'no turn for a rejected request',
  );
  t.equal(new Set(rows).size, expected.size, 'one turn per accepted request');
  t.equal((await fetch(`${stack.baseUrl}/health`)).status, 200, 'the gateway answers /health');
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'still there?' }] }),
  });
  t.equal(res.status, 200, 'the worker answers a valid request');
  const internal = stack.logs.lines.filter(
    (line) => line['code'] === 'internal_error' || (typeof line['level'] === 'number' && line['level'] >= 50),
  );
  t.same(
    internal.map((line) => line['msg']),
    [],
    'no error-level log line',
  );
});
