import t from 'tap';
import type { Socket } from 'node:net';
import { connect, errors } from '@nats-io/transport-node';
import { coalesceWrites } from '../../common/nats-write-coalescing.js';
import { startTestNats } from '../helpers/nats.js';

const nats = await startTestNats();
t.teardown(() => nats.dispose());

// The same private path the module reads: if a nats.js upgrade moves the socket, this fails
// instead of the coalescing silently switching off.
const socketOf = (nc: object) => (nc as { protocol?: { transport?: { socket?: Socket } } }).protocol?.transport?.socket;

t.test('publishes of one turn from separate callbacks are corked together, in order, and all arrive', async (t) => {
  const nc = coalesceWrites(await connect({ servers: nats.url }));
  const reader = await connect({ servers: nats.url });
  t.teardown(async () => {
    await nc.close();
    await reader.close();
  });
  const got: string[] = [];
  const sub = reader.subscribe('coalesce.test', {
    max: 50,
    callback: (_err, msg) => {
      got.push(msg.string());
    },
  });
  await reader.flush();
  const socket = socketOf(nc);
  t.ok(socket && typeof socket.cork === 'function', "the connection's socket is found");
  const corkedDuring: number[] = [];
  // 50 timers due at once run as 50 callbacks of one timers phase: one turn of the loop.
  await new Promise<void>((resolve) => {
    for (let i = 0; i < 50; i++) {
      setTimeout(() => {
        nc.publish('coalesce.test', `m${i}`);
        corkedDuring.push(socket!.writableCorked);
        if (i === 49) resolve();
      }, 1);
    }
  });
  t.ok(
    corkedDuring.every((c) => c === 1),
    'corked once for the whole turn',
  );
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(socket!.writableCorked, 0, 'uncorked in the check phase of that turn');
  await nc.flush();
  await sub.closed;
  t.same(
    got,
    Array.from({ length: 50 }, (_, i) => `m${i}`),
  );
});

t.test('publish still throws at the caller on a closed connection', async (t) => {
  const nc = coalesceWrites(await connect({ servers: nats.url }));
  await nc.close();
  t.throws(() => nc.publish('coalesce.test', 'late'), errors.ClosedConnectionError);
});

t.test('close() right after publishing still sends what the turn corked, as plain nats.js does', async (t) => {
  const reader = await connect({ servers: nats.url });
  t.teardown(() => reader.close());
  const got: string[] = [];
  const sub = reader.subscribe('coalesce.close', {
    max: 10,
    callback: (_err, msg) => {
      got.push(msg.string());
    },
  });
  await reader.flush();
  const nc = coalesceWrites(await connect({ servers: nats.url }));
  for (let i = 0; i < 10; i++) nc.publish('coalesce.close', `c${i}`);
  await Promise.resolve();
  await nc.close();
  const arrived = await Promise.race([
    sub.closed.then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), 3000)),
  ]);
  t.ok(arrived, 'all ten arrived');
  t.same(
    got,
    Array.from({ length: 10 }, (_, i) => `c${i}`),
  );
});
