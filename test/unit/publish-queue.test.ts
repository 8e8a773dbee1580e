import t from 'tap';
import type { PublishOptions } from '../../common/bus.js';
import { PublishQueue } from '../../common/publish-queue.js';
import { settle } from '../helpers/fake-clock.js';

const bytes = (value: string) => new TextEncoder().encode(value);

function recorder() {
  const batches: string[][] = [];
  let current: string[] | undefined;
  const send = (subject: string, data: Uint8Array, _options: PublishOptions | undefined) => {
    current ??= [];
    current.push(`${subject}:${new TextDecoder().decode(data)}`);
  };
  // Everything sent in one synchronous flush is one batch (one socket write for nats.js).
  const endBatch = () => {
    if (current) batches.push(current);
    current = undefined;
  };
  return { send, batches, endBatch };
}

t.test('the publishes of one turn are handed on together, in order, in its check phase', async (t) => {
  const { send, batches, endBatch } = recorder();
  const errors: unknown[] = [];
  const queue = new PublishQueue(send, (err) => errors.push(err));
  queue.push('a', bytes('1'), undefined);
  queue.push('b', bytes('2'), { reply: 'r' });
  queue.push('a', bytes('3'), undefined);
  endBatch();
  t.same(batches, [], 'nothing is sent at once');
  await settle();
  endBatch();
  t.same(batches, [['a:1', 'b:2', 'a:3']]);
  queue.push('c', bytes('4'), undefined);
  await settle();
  endBatch();
  t.same(batches[1], ['c:4'], 'the next turn is its own batch');
  t.same(errors, []);
});

t.test('flush() hands on what is queued now (before a request, a drain, a close)', async (t) => {
  const { send, batches, endBatch } = recorder();
  const queue = new PublishQueue(send, () => undefined);
  queue.push('a', bytes('1'), undefined);
  queue.flush();
  endBatch();
  t.same(batches, [['a:1']]);
  await settle();
  endBatch();
  t.equal(batches.length, 1, 'the scheduled flush finds nothing left');
});

t.test('a send that throws is reported, and the others still go', async (t) => {
  const sent: string[] = [];
  const errors: unknown[] = [];
  const queue = new PublishQueue(
    (subject) => {
      if (subject === 'bad') throw new Error('refused');
      sent.push(subject);
    },
    (err) => errors.push(err),
  );
  queue.push('a', bytes(''), undefined);
  queue.push('bad', bytes(''), undefined);
  queue.push('c', bytes(''), undefined);
  queue.flush();
  t.same(sent, ['a', 'c']);
  t.equal(errors.length, 1);
});
