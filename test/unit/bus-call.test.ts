import t from 'tap';
import { decodeCancelRequest, PROTOCOL_VERSION, type ChatRequest } from '../../bus-schemas/index.js';
import { busCall, type BusCallOptions } from '../../gateway/call/bus-call.js';
import { StoppedBeforeAnswer } from '../../gateway/call/stopped-before-answer.js';
import { RECONNECT_WAIT_MS } from '../../common/wait-connected.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { bytesOf, FrameMaker, readAll, testScope } from '../helpers/frames.js';

// The one request over the bus, against a fake Bus and clock: what reaches the bus, which
// frames come out, and each way the answer can turn out incomplete.

const REQUEST_ID = 'chatcmpl-test';
const envelope = (extra: Record<string, unknown> = {}): ChatRequest => ({
  v: PROTOCOL_VERSION,
  request_id: REQUEST_ID,
  session_id: 'conv_test',
  create_session: true,
  intent: 'testing',
  model: 'testing',
  messages: [{ role: 'user', content: 'hi' }],
  options: {},
  stream: true,
  timeout_ms: 10_000,
  heartbeat_ms: 200,
  tenant: 't',
  created_at: 0,
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  ...extra,
});

function setup(extra: Partial<BusCallOptions> = {}, envelopeExtra: Record<string, unknown> = {}) {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  const worker: string[] = [];
  bus.subscribe('agents.testing.chat', { queue: 'workers', callback: (_err, msg) => worker.push(msg.reply ?? '') });
  const options: BusCallOptions = {
    subject: 'agents.testing.chat',
    cancelSubject: 'agents.cancel',
    idleTimeoutMs: 600,
    deadlineGraceMs: 1000,
    cancelGraceMs: 2000,
    clock,
    ...extra,
  };
  const scope = testScope();
  const read = readAll(busCall(bus, envelope(envelopeExtra), options)(scope));
  const frames = new FrameMaker(REQUEST_ID);
  const inbox = () => bus.published[0]!.reply!;
  const reply = (frame: ReturnType<FrameMaker['ack']>) => bus.publish(inbox(), bytesOf(frame));
  const cancels = () =>
    bus.published.filter((m) => m.subject === 'agents.cancel').map((m) => decodeCancelRequest(m.data));
  return { clock, bus, scope, read, frames, reply, inbox, worker, cancels };
}

t.test('publishes the envelope with a random inbox, the request id and trace context as headers', async (t) => {
  const { bus, worker } = setup({ auditSubject: 'agents.audit.testing.chat' });
  await settle();
  const [request, audit] = bus.published;
  t.equal(request!.subject, 'agents.testing.chat');
  t.match(request!.reply, /^_INBOX\.gateway\./);
  t.equal(request!.headers?.get('Agentbus-Request-Id'), REQUEST_ID);
  t.match(request!.headers?.get('traceparent'), /^00-0af7/);
  t.equal(audit!.subject, 'agents.audit.testing.chat', 'an audit copy');
  t.equal(audit!.reply, undefined, 'which nobody answers');
  t.same(worker, [request!.reply], 'the worker got it');
});

t.test('relays the frames in order and ends after the terminal frame', async (t) => {
  const { read, frames, reply, bus, inbox } = setup();
  reply(frames.ack());
  reply(frames.delta('Hel'));
  reply(frames.delta('lo'));
  reply(frames.done());
  await read.finished;
  t.same(
    read.frames.map((f) => f.type),
    ['ack', 'delta', 'delta', 'done'],
  );
  t.equal(read.error, undefined);
  t.equal(bus.subscribers(inbox()), 0, 'the inbox is unsubscribed');
});

t.test('a gap in seq ends the answer with stream_protocol_error', async (t) => {
  const { read, frames, reply } = setup();
  reply(frames.ack());
  frames.delta('lost');
  reply(frames.delta('after a gap'));
  await read.finished;
  t.equal(read.error?.code, 'stream_protocol_error');
  t.match(read.error?.message, /expected seq 1, got 2/);
});

t.test('silence past the idle timeout is worker_lost, announced as a cancel; heartbeats keep it alive', async (t) => {
  const { read, frames, reply, clock, cancels } = setup();
  reply(frames.ack());
  await clock.advance(500);
  reply(frames.heartbeat());
  await clock.advance(500);
  t.equal(read.ended, false, 'a heartbeat rearmed the timer');
  await clock.advance(200);
  await read.finished;
  t.equal(read.error?.code, 'worker_lost');
  // A worker that is only stopped (SIGSTOP) must drop the request when it wakes up.
  t.match(cancels(), [{ request_id: REQUEST_ID, reason: /No frame from the worker for 600 ms/ }]);
});

t.test('an overloaded worker heartbeats before its ack: the call lives, and starts with the ack', async (t) => {
  const { read, frames, reply, clock } = setup();
  await clock.advance(500);
  reply(frames.heartbeat());
  await clock.advance(500);
  reply(frames.heartbeat());
  await clock.advance(500);
  t.equal(read.ended, false, 'each early heartbeat rearmed the silence limit');
  reply(frames.ack());
  reply(frames.heartbeat());
  reply(frames.done());
  await read.finished;
  t.same(
    read.frames.map((f) => f.type),
    ['ack', 'heartbeat', 'done'],
    'none before the ack passed on (it names the conversation); those after it are',
  );
  t.equal(read.error, undefined);
});

t.test('no answer by the deadline (plus grace) is deadline_exceeded', async (t) => {
  const { read, frames, reply, clock } = setup({ idleTimeoutMs: 60_000 }, { timeout_ms: 1000 });
  reply(frames.ack());
  await clock.advance(1999);
  t.equal(read.ended, false);
  await clock.advance(1);
  await read.finished;
  t.equal(read.error?.code, 'deadline_exceeded');
});

t.test('nobody serving the agent is no_worker at once', async (t) => {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  const read = readAll(
    busCall(bus, envelope(), {
      subject: 'agents.testing.chat',
      cancelSubject: 'agents.cancel',
      idleTimeoutMs: 600,
      deadlineGraceMs: 1000,
      cancelGraceMs: 2000,
      clock,
    })(testScope()),
  );
  await read.finished;
  t.equal(read.error?.code, 'no_worker');
  t.match(read.error?.message, /npm run worker -- --agents testing/);
});

t.test('an empty message before the terminal frame is stream_protocol_error', async (t) => {
  const { read, frames, reply, bus, inbox } = setup();
  reply(frames.ack());
  bus.publish(inbox());
  await read.finished;
  t.equal(read.error?.code, 'stream_protocol_error');
});

t.test('the bus dropping mid-answer ends it with bus_unavailable at once', async (t) => {
  const { read, frames, reply, bus } = setup();
  reply(frames.ack());
  await settle();
  bus.setConnected(false, 'disconnected from NATS (test)');
  await read.finished;
  t.equal(read.error?.code, 'bus_unavailable');
  t.match(read.error?.message, /dropped while the answer was on its way/);
});

t.test(
  'inboxes failed with an AgentbusError (a stopping gateway): the call ends with it, the worker cancels',
  async (t) => {
    const { read, frames, reply, bus, cancels } = setup();
    reply(frames.ack());
    await settle();
    const stopped = new StoppedBeforeAnswer();
    bus.failInboxes(stopped);
    await read.finished;
    t.equal(read.error, stopped, 'what the client is told, as it is');
    t.match(cancels(), [{ request_id: REQUEST_ID, reason: /shut down before this answer was ready/ }]);
  },
);

t.test('a call opened after the inboxes were failed ends with that error at once, publishing nothing', async (t) => {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  const stopped = new StoppedBeforeAnswer();
  bus.failInboxes(stopped);
  const options = { subject: 's', cancelSubject: 'c', idleTimeoutMs: 1, deadlineGraceMs: 1, cancelGraceMs: 1, clock };
  // A retry or a fan-out's combining step, started after the stop's walk: no worker runs it for nobody.
  const read = readAll(busCall(bus, envelope(), options)(testScope()));
  await read.finished;
  t.equal(read.error, stopped, "the stop's 503, as it is");
  t.same(bus.published, [], 'nothing published, not even a cancel');
});

t.test('a bus that stays down, or is closed, refuses the request before publishing', async (t) => {
  for (const breakBus of [(bus: FakeBus) => bus.setConnected(false), (bus: FakeBus) => bus.closeNow()]) {
    const clock = new FakeClock();
    const bus = new FakeBus('gateway', clock);
    breakBus(bus);
    const options = { subject: 's', cancelSubject: 'c', idleTimeoutMs: 1, deadlineGraceMs: 1, cancelGraceMs: 1, clock };
    const read = readAll(busCall(bus, envelope(), options)(testScope()));
    await clock.advance(RECONNECT_WAIT_MS);
    await read.finished;
    t.equal(read.error?.code, 'bus_unavailable');
    t.equal(read.error?.retryable, true);
    t.same(bus.published, [], 'nothing published');
  }
});

t.test('a bus that reconnects within the wait takes the request (a cluster node died)', async (t) => {
  const { clock, bus, read, frames, reply } = (() => {
    const clock = new FakeClock();
    const bus = new FakeBus('gateway', clock);
    bus.subscribe('s', { queue: 'workers', callback: () => undefined });
    bus.setConnected(false);
    const read = readAll(
      busCall(bus, envelope(), {
        subject: 's',
        cancelSubject: 'c',
        idleTimeoutMs: 600,
        deadlineGraceMs: 1,
        cancelGraceMs: 1,
        clock,
      })(testScope()),
    );
    const frames = new FrameMaker(REQUEST_ID);
    const reply = (frame: ReturnType<FrameMaker['ack']>) => bus.publish(bus.published[0]!.reply!, bytesOf(frame));
    return { clock, bus, read, frames, reply };
  })();
  await clock.advance(RECONNECT_WAIT_MS / 2);
  t.same(bus.published, [], 'nothing published while the bus is down');
  bus.setConnected(true);
  await settle();
  t.equal(bus.published[0]?.subject, 's', 'published once it is back');
  reply(frames.ack());
  reply(frames.done());
  await read.finished;
  t.equal(read.error, undefined);
});

t.test('a requester that leaves while the bus reconnects publishes nothing', async (t) => {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  bus.setConnected(false);
  const scope = testScope();
  const options = { subject: 's', cancelSubject: 'c', idleTimeoutMs: 1, deadlineGraceMs: 1, cancelGraceMs: 1, clock };
  const read = readAll(busCall(bus, envelope(), options)(scope));
  scope.close();
  await read.finished;
  bus.setConnected(true);
  await clock.advance(RECONNECT_WAIT_MS);
  t.same(bus.published, [], 'nothing published');
});

t.test('an exception of ours while encoding is internal_error, not retryable, with its cause', async (t) => {
  const bus = new FakeBus();
  const options = { subject: 's', cancelSubject: 'c', idleTimeoutMs: 1, deadlineGraceMs: 1, cancelGraceMs: 1 };
  // JSON.stringify cannot encode a BigInt: it throws a TypeError, as a stack overflow would a RangeError.
  const read = readAll(busCall(bus, envelope({ oops: 1n }), options)(testScope()));
  await read.finished;
  t.equal(read.error?.code, 'internal_error');
  t.equal(read.error?.retryable, false);
  t.ok(read.error?.cause instanceof TypeError, 'the original exception is kept for the log');
  t.same(bus.published, [], 'nothing was published');
});

t.test('a payload over max_payload is request_too_large', async (t) => {
  const bus = new FakeBus();
  bus.maxPayload = 100;
  const options = { subject: 's', cancelSubject: 'c', idleTimeoutMs: 1, deadlineGraceMs: 1, cancelGraceMs: 1 };
  const read = readAll(busCall(bus, envelope(), options)(testScope()));
  await read.finished;
  t.equal(read.error?.code, 'request_too_large');
});

t.test('close: the frames end without a terminal frame, and the worker is told to cancel', async (t) => {
  const { read, frames, reply, scope, cancels, clock } = setup();
  reply(frames.ack());
  reply(frames.delta('partial'));
  await settle();
  scope.close('client closed the connection');
  await read.finished;
  t.same(
    read.frames.map((f) => f.type),
    ['ack', 'delta'],
  );
  t.equal(read.error, undefined, 'no error: nobody is listening');
  t.same(cancels(), [{ v: PROTOCOL_VERSION, request_id: REQUEST_ID, reason: 'client closed the connection' }]);
  reply(frames.delta('late'));
  await clock.advance(10_000);
  t.equal(read.frames.length, 2, 'nothing after the close is relayed');
});

t.test('cancel: the worker is told, and its own terminal frame ends the call', async (t) => {
  const { read, frames, reply, scope, cancels } = setup();
  reply(frames.ack());
  await settle();
  scope.cancel('cancelled by the client');
  await settle();
  t.equal(cancels().length, 1);
  reply(frames.done());
  await read.finished;
  t.equal(read.frames.at(-1)?.type, 'done', 'a done: the answer was complete and stored already');
});

t.test('cancel without confirmation ends in request_cancelled after the grace', async (t) => {
  const { read, frames, reply, scope, clock } = setup({ idleTimeoutMs: 60_000 });
  reply(frames.ack());
  await settle();
  scope.cancel();
  await clock.advance(1999);
  t.equal(read.ended, false);
  await clock.advance(1);
  await read.finished;
  t.equal(read.error?.code, 'request_cancelled');
});

t.test('closed before it started: nothing is published', async (t) => {
  const bus = new FakeBus();
  const scope = testScope();
  scope.close();
  const options = { subject: 's', cancelSubject: 'c', idleTimeoutMs: 1, deadlineGraceMs: 1, cancelGraceMs: 1 };
  const read = readAll(busCall(bus, envelope(), options)(scope));
  await read.finished;
  t.same(read.frames, []);
  t.equal(read.error, undefined);
  t.same(bus.published, []);
});

t.test('a done sent as a request gets its receipt once the transport delivered the answer', async (t) => {
  const { read, frames, bus, inbox, scope } = setup();
  const receipts: unknown[] = [];
  bus.subscribe('_INBOX.worker.receipt', {
    callback: (_err, msg) => receipts.push(JSON.parse(new TextDecoder().decode(msg.data))),
  });
  bus.publish(inbox(), bytesOf(frames.ack()));
  bus.publish(inbox(), bytesOf(frames.done()), { reply: '_INBOX.worker.receipt' });
  await read.finished;
  await settle();
  t.same(receipts, [], 'no receipt before delivery');
  scope.deliver();
  await settle();
  t.same(receipts, [{ v: 2, request_id: REQUEST_ID, delivered: true }]);
  scope.close();
  await settle();
  t.equal(receipts.length, 1, 'one receipt only');
});

t.test('a requester gone before delivery answers the done with delivered: false', async (t) => {
  const { read, frames, bus, inbox, scope, cancels } = setup();
  const receipts: unknown[] = [];
  bus.subscribe('_INBOX.worker.receipt', {
    callback: (_err, msg) => receipts.push(JSON.parse(new TextDecoder().decode(msg.data))),
  });
  bus.publish(inbox(), bytesOf(frames.ack()));
  bus.publish(inbox(), bytesOf(frames.done()), { reply: '_INBOX.worker.receipt' });
  await read.finished;
  scope.close('client closed the connection');
  await settle();
  t.same(receipts, [{ v: 2, request_id: REQUEST_ID, delivered: false, reason: 'client closed the connection' }]);
  t.same(cancels(), [], 'the answer was complete: nothing to cancel');
});

t.test('a delivered answer that no worker took or committed is said in the log; an undelivered one not', async (t) => {
  for (const delivered of [true, false]) {
    const warnings: unknown[] = [];
    const log = { warn: (msg: string) => void warnings.push(msg) };
    const { read, frames, bus, inbox, scope, clock } = setup({ commitSubject: 'agents.memory.commit', log });
    bus.publish(inbox(), bytesOf(frames.ack()));
    // Its worker died at its done: nobody on its inbox, nobody on the commit subject, for good.
    bus.publish(inbox(), bytesOf(frames.done()), { reply: '_INBOX.gone.receipt' });
    await read.finished;
    if (delivered) scope.deliver();
    else scope.close('client closed the connection');
    await clock.advance(120_000);
    t.equal(warnings.length, delivered ? 1 : 0);
    t.match(
      warnings,
      delivered ? [/received the whole answer.*stays pending/] : [],
      delivered ? 'delivered' : 'undelivered',
    );
  }
});

/** Worker beats as the call sees them: the generation at publishing, and whether it still holds. */
function fakeBeats(serving: () => boolean) {
  const asked: Array<[string, number]> = [];
  return {
    asked,
    beats: {
      generation: () => 7,
      stillServing: (agent: string, generation: number) => {
        asked.push([agent, generation]);
        return serving();
      },
    },
  };
}

t.test("silence before any frame while the agent's workers beat unchanged: the call waits to be read", async (t) => {
  let serving = true;
  const { asked, beats } = fakeBeats(() => serving);
  const { read, frames, reply, clock, cancels } = setup({ beats });
  await clock.advance(600 * 5);
  t.equal(read.ended, false, 'past five silence limits, still waiting');
  t.same(asked.slice(0, 2), [
    ['testing', 7],
    ['testing', 7],
  ]);
  t.equal(asked.length, 5, 'asked once per silence limit');
  reply(frames.ack());
  reply(frames.done());
  await read.finished;
  t.equal(read.error, undefined);
  t.same(
    read.frames.map((f) => f.type),
    ['ack', 'done'],
  );
  t.same(cancels(), [], 'nothing announced');
  serving = false;
});

t.test('silence before any frame once the workers changed is worker_lost, as without beats', async (t) => {
  let serving = true;
  const { beats } = fakeBeats(() => serving);
  const { read, clock, cancels } = setup({ beats });
  await clock.advance(600);
  t.equal(read.ended, false);
  serving = false;
  await clock.advance(600);
  await read.finished;
  t.equal(read.error?.code, 'worker_lost');
  t.equal(cancels().length, 1, 'announced as a cancel, for a worker that reads it late');
});

t.test('silence after the first frame is worker_lost even while the workers beat', async (t) => {
  const { asked, beats } = fakeBeats(() => true);
  const { read, frames, reply, clock } = setup({ beats });
  reply(frames.heartbeat());
  await clock.advance(600);
  await read.finished;
  t.equal(read.error?.code, 'worker_lost', 'the worker that read it went silent: it died');
  t.same(asked, [], 'the beats are not asked');
});

t.test('waiting on the beats stops a silence limit before the deadline, as a worker_lost', async (t) => {
  const { beats } = fakeBeats(() => true);
  const { read, clock } = setup({ beats }, { timeout_ms: 2000 });
  await clock.advance(1200);
  t.equal(read.ended, false, 'waited past two silence limits');
  await clock.advance(600);
  await read.finished;
  t.equal(read.error?.code, 'worker_lost', 'retryable, unlike the deadline_exceeded one more limit would give');
});
