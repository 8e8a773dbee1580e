import { connect } from 'node:net';

/**
 * Sends `request` as it is on a new socket to `baseUrl`'s port and resolves with all the server
 * answered until it closed: for what Node's HTTP parser answers before fastify sees a request.
 */
export function rawExchange(baseUrl: string, request: string): Promise<string> {
  return new Promise<string>((resolve) => {
    const socket = connect(Number(new URL(baseUrl).port), '127.0.0.1', () => socket.write(request));
    let text = '';
    socket
      .on('data', (d: Buffer) => {
        text += d.toString('utf8');
      })
      .on('close', () => resolve(text))
      .on('error', () => resolve(text));
  });
}

/**
 * A request with `Expect: 100-continue` on a new socket: `head` (request line, headers and the blank
 * line, `Expect` among them) first, `body` only once the server answered `100 Continue`. Resolves with
 * all the server answered until it closed (10 s at most), and whether the body went.
 */
export function exchangeExpectingContinue(
  baseUrl: string,
  head: string,
  body: string | Buffer,
): Promise<{ text: string; bodySent: boolean }> {
  return new Promise((resolve) => {
    let text = '',
      bodySent = false;
    const socket = connect(Number(new URL(baseUrl).port), '127.0.0.1', () => socket.write(head));
    socket.setTimeout(10_000, () => socket.destroy());
    socket
      .on('data', (d: Buffer) => {
        text += d.toString('utf8');
        if (!bodySent && text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
          bodySent = true;
          socket.write(body);
        }
      })
      .on('close', () => resolve({ text, bodySent }))
      .on('error', () => resolve({ text, bodySent }));
  });
}
