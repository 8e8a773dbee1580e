import t from 'tap';
import type { ReplyFrame } from '../../bus-schemas/index.js';
import { openCall, type CallScope } from '../../gateway/call/call.js';
import { observed, type CallSummary } from '../../gateway/call/observe.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { FrameMaker, readAll, untilClosed } from '../helpers/frames.js';

// The call as a transport holds it (openCall), and the observation that feeds the trace log
// and the metrics.

t.test('onEnd runs once, just before the terminal frame is handed on', async (t) => {
  const f = new FrameMaker();
  const order: string[] = [];
  const call = openCall(
    async function* () {
      yield f.ack();
      yield f.done();
    },
    { onEnd: () => order.push('end') },
  );
  for await (const frame of call.frames) order.push(frame.type);
  call.close('late');
  t.same(order, ['ack', 'end', 'done']);
  t.equal(call.closedByClient, false, 'a close after the end changes nothing');
});

t.test('an answer not taken whole within the delivery window is overdue: the call is closed', async (t) => {
  const f = new FrameMaker();
  const clock = new FakeClock();
  const scopes: CallScope[] = [];
  // Its worker waits for the receipt 6 s from the done (a fan-out's parts would each say theirs).
  const open = (receiptWaitMs: number | null = 6000) =>
    openCall(
      (scope) => {
        scopes.push(scope);
        return (async function* () {
          yield f.ack();
          if (receiptWaitMs !== null) {
            scope.receiptDue?.(clock.now() + receiptWaitMs + 3000);
            scope.receiptDue?.(clock.now() + receiptWaitMs);
          }
          yield f.done();
        })();
      },
      { deliveryWindow: { marginMs: 1000, clock } },
    );
  const slow = open();
  await readAll(slow.frames).finished;
  await clock.advance(4999);
  t.notOk(slow.overdue.aborted, 'within the window');
  await clock.advance(1);
  t.ok(slow.overdue.aborted);
  t.match(String(slow.overdue.reason), /did not take the whole answer within 5000 ms/);
  t.ok(scopes[0]!.closed.aborted, 'closed: its workers are told it was not delivered');
  slow.delivered();
  t.notOk(scopes[0]!.delivered.aborted, 'a late finish changes nothing');

  const quick = open();
  await readAll(quick.frames).finished;
  quick.delivered();
  await clock.advance(10_000);
  t.notOk(quick.overdue.aborted);
  t.equal(clock.pending, 0, 'its timer is gone');

  const left = open();
  await readAll(left.frames).finished;
  left.close('client left');
  t.equal(clock.pending, 0, 'a closed call has no window either');
  t.notOk(left.overdue.aborted);

  const unreceipted = open(null);
  await readAll(unreceipted.frames).finished;
  t.equal(clock.pending, 0, 'no worker waits for a receipt (store: false, protocol v1): no window');
});

t.test('close() ends a call nobody reads, and once', async (t) => {
  let ends = 0;
  const call = openCall(() => (async function* () {})(), { onEnd: () => ends++ });
  call.close('gone');
  call.close('gone again');
  await settle();
  t.equal(ends, 1);
  t.equal(call.closedByClient, true);
});

t.test('close() while frames flow: the source sees its scope closed, the frames end', async (t) => {
  const f = new FrameMaker();
  let seen: CallScope | undefined;
  let ends = 0;
  const call = openCall(
    (scope) => {
      seen = scope;
      return untilClosed(scope, [f.ack()]);
    },
    { onEnd: () => ends++ },
  );
  const read = readAll(call.frames);
  await settle();
  call.close('client left');
  await read.finished;
  t.equal(seen?.closed.reason, 'client left');
  t.same(
    read.frames.map((frame) => frame.type),
    ['ack'],
  );
  t.equal(ends, 1);
  t.equal(call.closedByClient, true);
});

t.test('cancel() reaches the scope but ends nothing itself', async (t) => {
  const f = new FrameMaker();
  let seen: CallScope | undefined;
  let release!: () => void;
  const call = openCall(async function* (scope) {
    seen = scope;
    yield f.ack();
    await new Promise<void>((resolve) => (release = resolve));
    yield f.error('request_cancelled');
  });
  const read = readAll(call.frames);
  await settle();
  call.cancel('stop please');
  t.equal(seen?.cancelled.reason, 'stop please');
  t.equal(read.ended, false);
  release();
  await read.finished;
  t.equal(read.frames.at(-1)?.type, 'error');
  t.equal(call.closedByClient, false);
});

t.test('observation: one summary per call, however it ends', async (t) => {
  const clock = new FakeClock();
  const summaries: CallSummary[] = [];
  const opened: string[] = [];
  const listener = { opened: (agent: string) => opened.push(agent), ended: (s: CallSummary) => summaries.push(s) };
  const run = async (frames: (scope: CallScope) => AsyncIterable<ReplyFrame>, close = false) => {
    const call = openCall(
      observed(frames, { agent: 'testing', sessionId: 'conv_sent', listener, clock, onEnd: () => undefined }),
    );
    const read = readAll(call.frames);
    await settle();
    if (close) call.close('gone');
    await read.finished;
    await settle(); // the summary follows the event-loop turn the call ended in
  };
  const f = new FrameMaker();
  await run(async function* () {
    yield f.ack('conv_resolved');
    await clock.advance(50);
    yield f.delta('hello');
    yield f.refusal('no');
    yield {
      ...f.delta(''),
      tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'x', arguments: '{}' } }],
    } as ReplyFrame;
    yield f.done();
  });
  const g = new FrameMaker();
  await run(async function* () {
    yield g.ack();
    yield g.error('backend_error');
  });
  const h = new FrameMaker();
  await run((scope) => untilClosed(scope, [h.ack()]), true);
  t.same(opened, ['testing', 'testing', 'testing']);
  t.same(
    summaries.map((s) => [s.status, s.errorCode, s.conversationId, s.responseChars]),
    [
      // Text, refusal and arguments alike.
      [200, undefined, 'conv_resolved', 9],
      [502, 'backend_error', 'conv_test', 0],
      [499, 'request_cancelled', 'conv_test', 0],
    ],
  );
  t.equal(summaries[0]!.firstTokenMs, 50, 'time to the first token, on the injected clock');
  t.same(summaries[0]!.usage, { promptTokens: 1, completionTokens: 2 });
});

t.test("a listener's bug never breaks the answer", async (t) => {
  const f = new FrameMaker();
  const boom = () => {
    throw new Error('metrics bug');
  };
  const call = openCall(
    observed(
      async function* () {
        yield f.ack();
        yield f.done();
      },
      { agent: 'testing', sessionId: 's', listener: { opened: boom, ended: boom }, onEnd: () => undefined },
    ),
  );
  const read = readAll(call.frames);
  await read.finished;
  t.equal(read.error, undefined);
  t.equal(read.frames.at(-1)?.type, 'done');
});

t.test('delivered() or close() after the end: the scope hears which, once', async (t) => {
  const f = new FrameMaker();
  const run = async (finish: (call: ReturnType<typeof openCall>) => void) => {
    let seen: CallScope | undefined;
    const call = openCall(async function* (scope) {
      seen = scope;
      yield f.done();
    });
    for await (const frame of call.frames) void frame;
    finish(call);
    finish(call);
    return { scope: seen!, call };
  };
  const delivered = await run((call) => {
    call.delivered();
    call.close('late close');
  });
  t.ok(delivered.scope.delivered.aborted);
  t.notOk(delivered.scope.closed.aborted, 'a close after delivery changes nothing');
  const notDelivered = await run((call) => call.close('the client went away before the end was written'));
  t.ok(notDelivered.scope.closed.aborted, 'receipts waiting hear "not delivered"');
  t.notOk(notDelivered.scope.delivered.aborted);
  t.equal(notDelivered.call.closedByClient, false, 'closed after the end, not mid-answer');
});
