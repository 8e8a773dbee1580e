import t from 'tap';
import { connect } from 'node:net';
import { startStack } from '../helpers/stack.js';

// A client that sends `Connection: close` and reads a stream until the server closes (a raw HTTP
// client, a proxy that does not pool): every streamed route closes the connection after its end,
// as Node does for any response, instead of holding it open as if the client had asked keep-alive.
const stack = await startStack();
t.teardown(() => stack.close());

/** What the server sent on a new connection, and whether it closed it within 5 s. */
function exchange(request: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(stack.baseUrl).port), '127.0.0.1', () => socket.write(request));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, 5000);
    const end = () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    };
    socket.on('data', (d: Buffer) => (text += d.toString('utf8'))).on('close', end);
  });
}

const streams: Array<[string, Record<string, unknown>, RegExp]> = [
  ['/v1/chat/completions', { messages: [{ role: 'user', content: 'Hi' }] }, /data: \[DONE\]/],
  ['/v1/responses', { input: 'Hi' }, /event: response\.completed/],
  ['/v1/completions', { prompt: 'Hi' }, /data: \[DONE\]/],
];

for (const [path, body, end] of streams)
  t.test(`${path}, streamed, with Connection: close: closed after its end`, async (t) => {
    stack.ollama.behave({ tokens: ['Hello'] });
    const json = JSON.stringify({ model: 'documentation', stream: true, ...body });
    const request =
      `POST ${path} HTTP/1.1\r\nHost: ${new URL(stack.baseUrl).host}\r\nAuthorization: Bearer local-only\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`;
    const { text, closed } = await exchange(request);
    t.match(text, /^HTTP\/1\.1 200 /);
    t.match(text, end, 'the whole stream');
    t.ok(closed, 'the server closed the connection after it');
    t.notMatch(text, /\r\nconnection: keep-alive\r\n/i, 'and did not announce keep-alive');
  });

t.test('a client that keeps connections alive still gets keep-alive on streams', async (t) => {
  stack.ollama.behave({ tokens: ['Hello'] });
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer local-only', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'documentation', stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
  });
  t.equal(res.headers.get('connection'), 'keep-alive', "Node's own header");
  t.match(res.headers.get('keep-alive'), /timeout=\d+/);
  t.match(await res.text(), /data: \[DONE\]/);
});
