import { request } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { AUTH, startStack } from '../helpers/stack.js';

// A server may ignore an upgrade it does not offer: `curl --http2` on http:// asks for h2c, and
// the request must be served as HTTP/1.1 like any other, body and all. WebSocket still upgrades.
const stack = await startStack();
t.teardown(() => stack.close());

const H2C = { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA' };

/** One request over a fresh connection with node:http (undici and fetch refuse an Upgrade header). */
function send(method: string, path: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${stack.baseUrl}${path}`, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.on('upgrade', () => reject(new Error('the server upgraded')));
    req.end(body);
  });
}

t.test('a request asking for h2c is answered over HTTP/1.1', async (t) => {
  stack.ollama.behave({ tokens: ['plain', ' HTTP'] });
  const body = JSON.stringify({ model: 'documentation', messages: [{ role: 'user', content: 'hi' }] });
  const chat = await send('POST', '/v1/chat/completions', { ...AUTH, ...H2C }, body);
  t.equal(chat.status, 200, chat.body);
  t.equal(JSON.parse(chat.body).choices[0].message.content, 'plain HTTP');
  const models = await send('GET', '/v1/models', { authorization: AUTH.authorization, ...H2C });
  t.equal(models.status, 200);
  t.match(JSON.parse(models.body), { object: 'list' });
  const missing = await send('GET', '/nowhere', H2C);
  t.equal(missing.status, 404, 'and answered as what it is');
});

t.test('a WebSocket upgrade still upgrades', async (t) => {
  const socket = new WebSocket(`${stack.baseUrl.replace('http', 'ws')}/v1/ws`, { headers: AUTH });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  t.equal(socket.readyState, WebSocket.OPEN);
  socket.close();
});

/** Raw bytes over one TCP connection; resolves with all it answered once it has `expect` responses. */
function raw(bytes: string, expect: number) {
  return new Promise<string>((resolve, reject) => {
    const { port } = new URL(stack.baseUrl);
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(bytes));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no ${expect} responses: ${text.slice(0, 500)}`));
    }, 10_000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if ((text.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= expect) {
        clearTimeout(timer);
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
  });
}

t.test('a request behind pipelined ones is answered after them, in order', async (t) => {
  const plain = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  const h2c =
    'GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
    `Upgrade: h2c\r\nHTTP2-Settings: ${H2C['http2-settings']}\r\nAuthorization: ${AUTH.authorization}\r\n\r\n`;
  const answered = await raw(plain + plain + h2c, 3);
  t.same(answered.match(/HTTP\/1\.1 \d{3}/g), ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
  t.match(answered, /"object":"list"/);
});

t.test('more headers than Node keeps cannot be served again: 431, and nothing smuggled', async (t) => {
  const many = Array.from({ length: 1100 }, (_, i) => `x-${i}: a`).join('\r\n');
  const smuggled = 'GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  const answered = await raw(
    'POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n' +
      `${many}\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    1,
  );
  t.match(answered, /^HTTP\/1\.1 431/);
  t.match(answered, /"code":"headers_too_large"/);
  t.equal((answered.match(/HTTP\/1\.1 \d{3}/g) ?? []).length, 1, 'one answer only');
});
