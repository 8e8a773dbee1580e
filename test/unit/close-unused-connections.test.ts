import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { trackUnusedConnections } from '../../gateway/http/close-unused-connections.js';
import { waitFor } from '../helpers/wait.js';

/** A server that holds every response, and every upgraded socket, until the test ends. */
async function startServer(
  t: Test,
): Promise<{ server: Server; held: ServerResponse[]; upgrades: Duplex[]; closeUnused: () => void }> {
  const held: ServerResponse[] = [];
  const upgrades: Duplex[] = [];
  const server = createServer((_req, res) => held.push(res));
  server.on('upgrade', (_req, socket: Duplex) => upgrades.push(socket));
  const unused = trackUnusedConnections(server);
  const closeUnused = () => unused.closeUnused();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, held, upgrades, closeUnused };
}

/** A client connection that sends `bytes`; resolves with both sides once the server has read them. */
async function open(t: Test, server: Server, bytes = ''): Promise<{ client: Socket; accepted: Socket }> {
  const { port } = server.address() as { port: number };
  const acceptedNow = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  client.on('error', () => undefined);
  t.teardown(() => client.destroy());
  const [accepted] = await acceptedNow;
  if (bytes) {
    client.write(bytes);
    await waitFor('the server to read the bytes', () => accepted.bytesRead === Buffer.byteLength(bytes));
  }
  return { client, accepted };
}

t.test('closeUnused closes a connection that never sent a request, not the others', async (t) => {
  const { server, held, upgrades, closeUnused } = await startServer(t);
  const unused = await open(t, server);
  const partialHead = await open(t, server, 'POST /slow HTTP/1.1\r\nHost: x\r\n');
  const waiting = await open(t, server, 'GET /held HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor('the request to reach the handler', () => held.length === 1);
  const upgraded = await open(t, server, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: test\r\n\r\n');
  await waitFor('the upgrade', () => upgrades.length === 1);

  closeUnused();
  t.ok(unused.accepted.destroyed, 'the connection that sent nothing is closed');
  t.notOk(partialHead.accepted.destroyed, 'a request head in progress is not');
  t.notOk(waiting.accepted.destroyed, 'a request waiting for its response is not');
  t.notOk(upgraded.accepted.destroyed, 'an upgraded connection is not');
});

t.test('server.close() then completes with an unused connection open (Node 20 waited for its client)', async (t) => {
  const { server, closeUnused } = await startServer(t);
  const { client, accepted } = await open(t, server);
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  closeUnused();
  t.ok(accepted.destroyed, 'closed');
  await once(client, 'close');
  await closed;
});
