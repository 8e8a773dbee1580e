import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { hostAllowList, hostNameOf } from '../../gateway/http/host-allow-list.js';
import { createKey } from '../helpers/keys-cli.js';
import { startStack } from '../helpers/stack.js';
import { waitUntil } from '../helpers/wait.js';

// Finding 4 of issue 18 (DNS rebinding): with Origin and Host both evil.example:PORT, /v1/ws
// answered `ready` and HTTP with `Bearer local-only` answered 200, and /playground/config.json
// offered the dev key after real keys existed. The gateway listens on every interface here, so
// the test also reaches it from a non-loopback address of this machine (its peer address then
// is not loopback), as another machine would.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-rebind-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const keysFile = join(dir, 'keys.json');
const stack = await startStack({ env: { KEYS_FILE: keysFile }, listenHost: '0.0.0.0', workerAgents: ['code_review'] });
t.teardown(() => stack.close());
const port = Number(new URL(stack.baseUrl).port);
const outside = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address;

interface Answer {
  status: number;
  body: any;
}
/** One HTTP request with exactly these headers (fetch would not let us set Host), to `address`. */
function send(path: string, headers: Record<string, string>, address = '127.0.0.1', body?: object): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { host: address, port, path, method: body ? 'POST' : 'GET', headers, agent: false };
    const req = httpRequest(options, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}
const chatBody = { model: 'code_review', messages: [{ role: 'user', content: 'hi' }] };
const devKey = { authorization: 'Bearer local-only', 'content-type': 'application/json' };

/** A WebSocket upgrade with these headers: its HTTP status if refused, or the first frame. */
function upgrade(headers: Record<string, string>, address = '127.0.0.1'): Promise<{ status?: number; frame?: any }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://${address}:${port}/v1/ws`, { headers });
    socket.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      res.resume();
      socket.terminate();
    });
    socket.on('message', (data: Buffer) => {
      resolve({ frame: JSON.parse(data.toString('utf8')) });
      socket.close();
    });
    socket.on('open', () => {
      if (!headers['authorization']) socket.send(JSON.stringify({ type: 'auth', api_key: 'local-only' }));
    });
    socket.on('error', () => undefined);
  });
}

t.test('the Host allow-list: loopback names, the listen HOST, ALLOWED_HOSTS', async (t) => {
  t.equal(hostNameOf('Evil.Example:8080'), 'evil.example');
  t.equal(hostNameOf('[::1]:8080'), '::1');
  t.equal(hostNameOf('localhost.'), 'localhost');
  const loopbackOnly = hostAllowList({ host: '0.0.0.0', allowedHosts: [] });
  for (const host of ['127.0.0.1:80', 'localhost:8080', 'LOCALHOST', '[::1]:1', 'app.localhost', '127.1.2.3'])
    t.ok(loopbackOnly(host), host);
  for (const host of ['evil.example:8080', '0.0.0.0', '192.0.2.2:8080', 'localhost.evil.example', '[fd00::2]'])
    t.notOk(loopbackOnly(host), host);
  t.ok(loopbackOnly(undefined), 'no Host at all (HTTP/1.0, not a browser)');
  t.ok(hostAllowList({ host: '10.1.2.3', allowedHosts: [] })('10.1.2.3:8080'), 'the HOST it listens on');
  const listed = hostAllowList({ host: '0.0.0.0', allowedHosts: ['gateway.example.com', '[fd00::2]'] });
  t.ok(listed('gateway.example.com'));
  t.ok(listed('[fd00::2]:8080'));
  t.notOk(listed('evil.example'));
  t.ok(hostAllowList({ host: '0.0.0.0', allowedHosts: ['*'] })('anything.example'), '`*`: any');
});

t.test('a rebound name is refused over HTTP, before any key is looked at', async (t) => {
  const evil = { host: `evil.example:${port}`, origin: `http://evil.example:${port}` };
  for (const [path, body] of [
    ['/v1/chat/completions', chatBody],
    ['/v1/models', undefined],
    ['/health', undefined],
    ['/playground/config.json', undefined],
    ['/', undefined],
  ] as const) {
    const answer = await send(path, { ...devKey, ...evil }, '127.0.0.1', body);
    t.equal(answer.status, 403, path);
    t.match(answer.body, {
      error: { code: 'host_not_allowed', type: 'invalid_request_error', message: /ALLOWED_HOSTS/ },
    });
  }
  t.equal(
    (await send('/v1/chat/completions', { ...devKey, host: `localhost:${port}` }, '127.0.0.1', chatBody)).status,
    200,
  );
  t.equal((await send('/v1/models', { ...devKey, host: `127.0.0.1:${port}` })).status, 200);
});

t.test('a rebound name gets no WebSocket: 403, never `ready`', async (t) => {
  const evil = await upgrade({ host: `evil.example:${port}`, origin: `http://evil.example:${port}` });
  t.equal(evil.status, 403);
  const mine = await upgrade({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` });
  t.match(mine.frame, { type: 'ready' }, 'the playground on loopback still connects');
});

t.test(
  'the dev key is honoured only from a loopback peer address',
  { skip: !outside && 'no non-loopback address' },
  async (t) => {
    const host = { host: `127.0.0.1:${port}` }; // even with a Host that passes the allow-list
    t.equal((await send('/v1/models', { ...devKey, ...host }, outside)).status, 401);
    const refused = await send('/v1/chat/completions', { ...devKey, ...host }, outside, chatBody);
    t.match(refused, { status: 401, body: { error: { code: 'invalid_api_key' } } });
    t.equal((await upgrade({ ...host, authorization: 'Bearer local-only' }, outside)).status, 401, 'WebSocket header');
    t.match((await upgrade(host, outside)).frame, { type: 'error', error: { code: 'invalid_api_key' } }, 'auth frame');
    t.same((await send('/playground/config.json', host, outside)).body, { dev_key: null }, 'not offered there');
    t.same((await send('/playground/config.json', host)).body, { dev_key: 'local-only' }, 'offered on loopback');
  },
);

t.test('once a key exists the playground no longer offers the dev key', async (t) => {
  const key = await createKey(keysFile, ['--name', 'first', '--tier', 'unlimited']);
  const accepted = async () => (await send('/v1/models', { authorization: `Bearer ${key}` })).status === 200;
  t.ok(await waitUntil(accepted, 10_000));
  t.same((await send('/playground/config.json', {})).body, { dev_key: null });
  t.equal((await send('/v1/models', devKey)).status, 401);
});

t.test(
  'two Host headers are a 400, whichever comes first (Node reads the first, a proxy may use the other)',
  async (t) => {
    for (const hosts of [
      [`localhost:${port}`, `evil.example:${port}`],
      [`evil.example:${port}`, `localhost:${port}`],
      [`localhost:${port}`, `localhost:${port}`],
    ]) {
      const socket = connect(port, '127.0.0.1');
      const head = hosts.map((host) => `Host: ${host}\r\n`).join('');
      socket.end(`GET /v1/models HTTP/1.1\r\n${head}Authorization: Bearer local-only\r\nConnection: close\r\n\r\n`);
      let text = '';
      for await (const chunk of socket) text += (chunk as Buffer).toString('utf8');
      t.match(text, /^HTTP\/1\.1 400 /, hosts.join(' + '));
      t.match(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)), {
        error: { code: 'invalid_request', param: 'Host', message: /more than one Host header/ },
      });
    }
  },
);

/** One raw request line and headers on a socket of its own; the whole answer. */
async function rawAnswer(head: string): Promise<{ status: number; body: any }> {
  const socket = connect(port, '127.0.0.1');
  socket.end(`${head}Connection: close\r\n\r\n`);
  let text = '';
  for await (const chunk of socket) text += (chunk as Buffer).toString('utf8');
  return { status: Number(text.slice(9, 12)), body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) };
}

t.test('an absolute-form target is judged by its own host, not by Host (RFC 9112, section 3.2.2)', async (t) => {
  // /health needs no key: the host is judged before any key is looked at.
  const evil = await rawAnswer(`GET http://evil.example:${port}/health HTTP/1.1\r\nHost: localhost:${port}\r\n`);
  t.equal(evil.status, 403);
  t.match(evil.body, { error: { code: 'host_not_allowed', message: /evil\.example/ } });
  const local = await rawAnswer(`GET http://localhost:${port}/health HTTP/1.1\r\nHost: evil.example\r\n`);
  t.equal(local.status, 200, 'a loopback target is served whatever Host says');
});

t.test('two Authorization headers are a 400: Node reads the first, a proxy may have checked the other', async (t) => {
  for (const keys of [
    ['local-only', 'sk-other'],
    ['sk-other', 'local-only'],
  ]) {
    const lines = keys.map((key) => `Authorization: Bearer ${key}\r\n`).join('');
    const answer = await rawAnswer(`GET /v1/models HTTP/1.1\r\nHost: localhost:${port}\r\n${lines}`);
    t.equal(answer.status, 400, keys.join(' + '));
    t.match(answer.body, { error: { code: 'invalid_request', param: 'Authorization', message: /more than one/ } });
    // The WebSocket's upgrade reads the header itself: the same 400, no socket.
    const upgrade = await rawAnswer(
      `GET /v1/ws HTTP/1.1\r\nHost: localhost:${port}\r\n${lines}Upgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
    );
    t.equal(upgrade.status, 400, `upgrade: ${keys.join(' + ')}`);
    t.match(upgrade.body, { error: { param: 'Authorization', message: /more than one/ } });
  }
});
