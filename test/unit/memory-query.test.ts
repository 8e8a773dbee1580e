import t from 'tap';
import { askMemory } from '../../gateway/bus/memory-query.js';
import { StoppedBeforeAnswer } from '../../gateway/call/stopped-before-answer.js';
import { FakeBus } from '../helpers/fake-bus.js';

// A memory query asked of a fake bus whose worker answers every query with one byte.

const options = { subject: 'agents.memory.last', timeoutMs: 1000 };

function setUp() {
  const bus = new FakeBus();
  bus.subscribe(options.subject, { callback: (_err, msg) => bus.publish(msg.reply!, new Uint8Array(1)) });
  return bus;
}

t.test('the worker answers the query', async (t) => {
  t.same(await askMemory(setUp(), { request_id: 'r' }, options), new Uint8Array(1));
});

t.test("asked after a stopping gateway's walk: its 503 as it is, and nothing published", async (t) => {
  const bus = setUp();
  const stopped = new StoppedBeforeAnswer();
  bus.failInboxes(stopped);
  const err = await askMemory(bus, { request_id: 'r' }, options).catch((error: unknown) => error);
  t.equal(err, stopped);
  t.same(bus.published, []);
});
