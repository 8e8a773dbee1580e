import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import t from 'tap';
import type { Call } from '../../gateway/call/call.js';
import { DrainDeadline, shutDownBeforeAnswer } from '../../gateway/http/drain-deadline.js';

// The gateway's drain deadline for JSON answers: what it closes, and how long it waits for their 503s.

/** A call that records its close() reasons; nothing else of it is used. */
const fakeCall = () => {
  const closes: string[] = [];
  return { call: { close: (reason: Error) => closes.push(reason.message) } as unknown as Call, closes };
};

/** A response not written yet: `end()` finishes it as Node does. */
const fakeResponse = () => {
  const response = Object.assign(new EventEmitter(), { writableFinished: false, destroyed: false });
  return {
    response: response as unknown as ServerResponse,
    end() {
      response.writableFinished = true;
      response.emit('finish');
    },
  };
};

t.test('passing closes each awaited call and waits until its answer is written', async (t) => {
  const deadline = new DrainDeadline();
  const a = fakeCall();
  const b = fakeCall();
  const ra = fakeResponse();
  const rb = fakeResponse();
  deadline.awaiting(a.call, ra.response);
  deadline.awaiting(b.call, rb.response);
  t.notOk(deadline.passed);
  let done = false;
  const passed = deadline.pass(10_000).then((count) => {
    done = true;
    return count;
  });
  t.ok(deadline.passed);
  t.match(a.closes, [/shut down before this answer was ready/]);
  t.match(b.closes, [/shut down before this answer was ready/]);
  ra.end();
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(done, 'still waiting for the other answer');
  rb.end();
  t.equal(await passed, 2);
});

t.test('a settled answer is left alone; one awaited after the deadline is closed at once', async (t) => {
  const deadline = new DrainDeadline();
  const settled = fakeCall();
  deadline.awaiting(settled.call, fakeResponse().response);
  deadline.settled(settled.call);
  t.equal(await deadline.pass(10_000), 0);
  t.same(settled.closes, []);
  const late = fakeCall();
  deadline.awaiting(late.call, fakeResponse().response);
  t.equal(late.closes.length, 1);
});

t.test('an answer never written holds the deadline no longer than flushMs', async (t) => {
  const deadline = new DrainDeadline();
  deadline.awaiting(fakeCall().call, fakeResponse().response);
  const started = Date.now();
  t.equal(await deadline.pass(50), 1);
  t.ok(Date.now() - started < 5000);
});

t.test('what the client is told: 503 bus_unavailable, retryable', async (t) => {
  const error = shutDownBeforeAnswer();
  t.match(error, { status: 503, code: 'bus_unavailable', retryable: true });
  t.match(error.toOpenAI(), { error: { code: 'bus_unavailable', message: /Send the request again/ } });
});
