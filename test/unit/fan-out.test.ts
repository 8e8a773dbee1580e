import t from 'tap';
import type { DoneFrame, ReplyFrame } from '../../bus-schemas/index.js';
import type { CallScope, FrameSource } from '../../gateway/call/call.js';
import { fanOut, type PartResult } from '../../gateway/call/fan-out.js';
import { StoppedBeforeAnswer } from '../../gateway/call/stopped-before-answer.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { FrameMaker, readAll, testScope, untilClosed } from '../helpers/frames.js';

// Several agents as one answer: sections in route order, held tokens, partial failures, the
// aggregator, and close/cancel reaching every part through the one scope.

/** A part whose frames the test releases one at a time with `step()`. */
function steppedPart(frames: ReplyFrame[]) {
  const queue = [...frames];
  let wake: (() => void) | undefined;
  const scopes: CallScope[] = [];
  const source: FrameSource = async function* (scope) {
    scopes.push(scope);
    while (queue.length > 0) {
      await new Promise<void>((resolve) => (wake = resolve));
      if (scope.closed.aborted) return;
      yield queue.shift()!;
    }
  };
  return {
    source,
    scopes,
    step: async (count = 1) => {
      for (let i = 0; i < count; i++) {
        wake?.();
        await settle();
      }
    },
  };
}

const fixed = (frames: ReplyFrame[]): FrameSource =>
  async function* () {
    yield* frames;
  };

const text = (frames: ReplyFrame[]) =>
  frames.map((frame) => (frame.type === 'delta' ? (frame.content ?? '') : '')).join('');

t.test('sections in route order: a later agent streaming first is held until its turn', async (t) => {
  const [a, b] = [new FrameMaker('r'), new FrameMaker('r.security')];
  const first = steppedPart([a.ack('conv_1'), a.delta('A1'), a.delta('A2'), a.done({ agent: 'code_review' })]);
  const second = fixed([b.ack('conv_1'), b.delta('B1'), b.done({ agent: 'security', model: 'm2' })]);
  const read = readAll(
    fanOut(
      [
        { agent: 'code_review', source: first.source },
        { agent: 'security', source: second },
      ],
      {
        sessionId: 'conv_1',
        clock: new FakeClock(),
      },
    )(testScope()),
  );
  await settle();
  await first.step(4);
  await read.finished;
  t.equal(text(read.frames), '## code_review\n\nA1A2\n\n## security\n\nB1');
  t.same(
    read.frames.map((frame) => frame.seq),
    read.frames.map((_, i) => i),
    'seq without gaps',
  );
  const done = read.frames.at(-1) as DoneFrame;
  t.equal(done.meta.agent, 'code_review+security');
  t.equal(done.meta.model, 'm+m2');
  t.same(done.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
  t.same(
    done.meta.agents?.map((part) => part.status),
    ['ok', 'ok'],
  );
});

t.test('one part failing leaves a note in its section; the answer still completes', async (t) => {
  const [a, b] = [new FrameMaker('r'), new FrameMaker('r.security')];
  const read = readAll(
    fanOut(
      [
        { agent: 'code_review', source: fixed([a.ack(), a.error('backend_error', 'model down')]) },
        { agent: 'security', source: fixed([b.ack(), b.delta('fine'), b.done()]) },
      ],
      { sessionId: 'conv_1', clock: new FakeClock() },
    )(testScope()),
  );
  await read.finished;
  t.match(text(read.frames), /## code_review\n\n_\(code_review failed: model down\)_\n\n## security\n\nfine/);
  const done = read.frames.at(-1) as DoneFrame;
  t.same(
    done.meta.agents?.map((part) => part.status),
    ['error', 'ok'],
  );
});

t.test('a part cut by a content filter or max_tokens makes the whole answer cut', async (t) => {
  const combined = async (reasons: Array<DoneFrame['finish_reason']>) => {
    const parts = reasons.map((reason, i) => {
      const maker = new FrameMaker(i === 0 ? 'r' : `r.a${i}`);
      const frames = [maker.ack(), maker.delta('x'), { ...(maker.done() as DoneFrame), finish_reason: reason }];
      return { agent: `a${i}`, source: fixed(frames) };
    });
    const read = readAll(fanOut(parts, { sessionId: 'conv_1', clock: new FakeClock() })(testScope()));
    await read.finished;
    return (read.frames.at(-1) as DoneFrame).finish_reason;
  };
  t.equal(await combined(['stop', 'stop']), 'stop');
  t.equal(await combined(['stop', 'length']), 'length');
  t.equal(await combined(['length', 'content_filter']), 'content_filter', 'withheld text says more than a cap');
});

t.test('the gateway stopping: the answer ends with its 503, no note that reads as an answer', async (t) => {
  const stopped = new StoppedBeforeAnswer();
  const failing = (maker: FrameMaker): FrameSource =>
    async function* () {
      yield maker.ack();
      throw stopped;
    };
  const [a, b, c] = [new FrameMaker('r'), new FrameMaker('r.b'), new FrameMaker('r.aggregate')];
  const parts = [
    { agent: 'a', source: fixed([a.ack(), a.delta('from A'), a.done()]) },
    { agent: 'b', source: failing(b) },
  ];
  const sections = readAll(fanOut(parts, { sessionId: 'conv_1', clock: new FakeClock() })(testScope()));
  await sections.finished;
  // Part a had finished, but the whole answer never reached the client: its turn is not committed either.
  const nothingKept = { code: 'bus_unavailable', message: /nothing was stored/ };
  t.type(sections.error, StoppedBeforeAnswer);
  t.match(sections.error, nothingKept, 'sections: a part stopped');
  t.notOk(sections.frames.some((frame) => frame.type === 'done'));
  let asked = false;
  const aggregate = { agent: 'general', start: () => ((asked = true), failing(c)) };
  const combined = readAll(fanOut(parts, { sessionId: 'conv_1', clock: new FakeClock(), aggregate })(testScope()));
  await combined.finished;
  t.match(combined.error, nothingKept, 'aggregated: a part stopped');
  t.notOk(asked, 'the aggregator is not asked');
  const done = { agent: 'a', source: fixed([a.ack(), a.delta('from A'), a.done()]) };
  const late = readAll(fanOut([done], { sessionId: 'conv_1', clock: new FakeClock(), aggregate })(testScope()));
  await late.finished;
  t.match(late.error, nothingKept, 'the aggregator stopped: no sections instead');
  const none = readAll(
    fanOut([{ agent: 'b', source: failing(b) }], { sessionId: 'conv_1', clock: new FakeClock() })(testScope()),
  );
  await none.finished;
  t.match(none.error, { message: /nothing was stored/ }, 'no part finished: nothing stored');
});

t.test('every part failing is an error naming each', async (t) => {
  const [a, b] = [new FrameMaker('r'), new FrameMaker('r.b')];
  const read = readAll(
    fanOut(
      [
        { agent: 'a', source: fixed([a.error('no_worker', 'none A')]) },
        { agent: 'b', source: fixed([b.error('no_worker', 'none B')]) },
      ],
      { sessionId: 'conv_1', clock: new FakeClock() },
    )(testScope()),
  );
  await read.finished;
  t.equal(read.error?.code, 'no_worker');
  t.match(read.error?.message, /Every agent of the route failed: a: none A; b: none B/);
});

t.test("every part's circuits open: the error keeps the earliest reopening, for Retry-After", async (t) => {
  const failing = async (waits: Array<number | undefined>) => {
    const read = readAll(
      fanOut(
        waits.map((ms, i) => ({
          agent: `a${i}`,
          source: fixed([new FrameMaker(`r.${i}`).error('no_provider_available', 'open', ms)]),
        })),
        { sessionId: 'conv_1', clock: new FakeClock() },
      )(testScope()),
    );
    await read.finished;
    return read.error;
  };
  t.match(await failing([20_000, 12_000]), { code: 'no_provider_available', retryAfterMs: 12_000 });
  t.equal((await failing([20_000, undefined]))?.retryAfterMs, undefined, 'an agent that may answer now: none');
});

t.test('an aggregator combines the parts once all ended; its text is the answer', async (t) => {
  const [a, b, c] = [new FrameMaker('r'), new FrameMaker('r.b'), new FrameMaker('r.aggregate')];
  const seen: PartResult[][] = [];
  const read = readAll(
    fanOut(
      [
        { agent: 'a', source: fixed([a.ack(), a.delta('from A'), a.done()]) },
        { agent: 'b', source: fixed([b.ack(), b.error('backend_error', 'down')]) },
      ],
      {
        sessionId: 'conv_1',
        clock: new FakeClock(),
        aggregate: {
          agent: 'general',
          start: (results) => {
            seen.push(results);
            return fixed([c.ack(), c.delta('combined'), c.done({ agent: 'general' })]);
          },
        },
      },
    )(testScope()),
  );
  await read.finished;
  t.same(
    seen[0]?.map((part) => [part.agent, part.content, part.error?.code]),
    [
      ['a', 'from A', undefined],
      ['b', '', 'backend_error'],
    ],
  );
  t.equal(text(read.frames), 'combined');
  t.equal((read.frames.at(-1) as DoneFrame).meta.agent, 'a+b+general');
});

t.test("a part's refusal is its section's text; the aggregator's stays a refusal", async (t) => {
  let [a, b] = [new FrameMaker('r'), new FrameMaker('r.b')];
  const c = new FrameMaker('r.aggregate');
  const parts = () => [
    { agent: 'a', source: fixed([a.ack(), a.refusal('No.'), a.done()]) },
    { agent: 'b', source: fixed([b.ack(), b.delta('Yes.'), b.done()]) },
  ];
  const sections = readAll(fanOut(parts(), { sessionId: 'conv_1', clock: new FakeClock() })(testScope()));
  await sections.finished;
  t.equal(text(sections.frames), '## a\n\nNo.\n\n## b\n\nYes.');
  t.notOk(
    sections.frames.some((frame) => frame.type === 'delta' && frame.refusal !== undefined),
    'no refusal of the whole answer',
  );
  [a, b] = [new FrameMaker('r'), new FrameMaker('r.b')];
  const seen: PartResult[][] = [];
  const start = (results: PartResult[]) => {
    seen.push(results);
    return fixed([c.ack(), c.refusal('I will not combine these.'), c.done({ agent: 'general' })]);
  };
  const options = { sessionId: 'conv_1', clock: new FakeClock(), aggregate: { agent: 'general', start } };
  const combined = readAll(fanOut(parts(), options)(testScope()));
  await combined.finished;
  t.same(
    seen[0]?.map((part) => part.content),
    ['No.', 'Yes.'],
    "the aggregator reads each part's words",
  );
  t.same(
    combined.frames.flatMap((frame) => (frame.type === 'delta' ? [frame.refusal] : [])),
    ['I will not combine these.'],
  );
});

t.test('an aggregator failing before its first token: the sections are the answer, saying so', async (t) => {
  const [a, c] = [new FrameMaker('r'), new FrameMaker('r.aggregate')];
  const read = readAll(
    fanOut([{ agent: 'a', source: fixed([a.ack(), a.delta('from A'), a.done()]) }], {
      sessionId: 'conv_1',
      clock: new FakeClock(),
      aggregate: { agent: 'general', start: () => fixed([c.error('backend_error', 'agg down')]) },
    })(testScope()),
  );
  await read.finished;
  t.match(text(read.frames), /^_\(general could not combine the answers: agg down\)_\n\n## a\n\nfrom A$/);
  t.equal(read.frames.at(-1)?.type, 'done');
});

t.test('a close reaches every part at once and ends the answer without a terminal frame', async (t) => {
  const [a, b] = [new FrameMaker('r'), new FrameMaker('r.b')];
  const scopes: CallScope[] = [];
  const hanging =
    (maker: FrameMaker): FrameSource =>
    (scope) => {
      scopes.push(scope);
      return untilClosed(scope, [maker.ack(), maker.delta('…')]);
    };
  const scope = testScope();
  const read = readAll(
    fanOut(
      [
        { agent: 'a', source: hanging(a) },
        { agent: 'b', source: hanging(b) },
      ],
      {
        sessionId: 'conv_1',
        clock: new FakeClock(),
      },
    )(scope),
  );
  await settle();
  scope.close();
  await read.finished;
  t.equal(read.error, undefined);
  t.notOk(read.frames.some((frame) => frame.type === 'done' || frame.type === 'error'));
  t.ok(scopes.length === 2 && scopes.every((s) => s.closed.aborted), 'both parts saw the close');
});

t.test('a cancel before the aggregator starts is request_cancelled; the aggregator is not asked', async (t) => {
  const [a] = [new FrameMaker('r')];
  const part = steppedPart([a.ack(), a.delta('x'), a.done()]);
  let asked = false;
  const scope = testScope();
  const read = readAll(
    fanOut([{ agent: 'a', source: part.source }], {
      sessionId: 'conv_1',
      clock: new FakeClock(),
      aggregate: {
        agent: 'general',
        start: () => {
          asked = true;
          return fixed([]);
        },
      },
    })(scope),
  );
  await part.step(2);
  scope.cancel();
  t.ok(part.scopes[0]!.cancelled.aborted, 'the part saw the cancel');
  await part.step(1);
  await read.finished;
  t.equal(read.error?.code, 'request_cancelled');
  t.equal(asked, false);
});

t.test('a cancel that cuts a part of a route without an aggregator is request_cancelled, not a note', async (t) => {
  const [a, b] = [new FrameMaker('r'), new FrameMaker('r.b')];
  const slow = steppedPart([b.ack(), b.error('request_cancelled', 'cancelled')]);
  const scope = testScope();
  const parts = [
    { agent: 'a', source: fixed([a.ack(), a.delta('from A'), a.done()]) },
    { agent: 'b', source: slow.source },
  ];
  const read = readAll(fanOut(parts, { sessionId: 'conv_1', clock: new FakeClock() })(scope));
  await slow.step(1);
  scope.cancel();
  await slow.step(1);
  await read.finished;
  t.match(read.error, { code: 'request_cancelled', message: /nothing was stored/ });
  t.notOk(
    read.frames.some((frame) => frame.type === 'done'),
    'no done: the finished part is not committed',
  );
});
