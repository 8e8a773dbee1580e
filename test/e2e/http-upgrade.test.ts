import { request } from 'node:http';
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
