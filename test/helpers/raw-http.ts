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
