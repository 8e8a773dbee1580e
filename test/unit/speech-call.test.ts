import t from 'tap';
import { decodeCancelRequest, encodeJson, subjectsFor, type SpeechRequest } from '../../bus-schemas/index.js';
import { callSpeech } from '../../gateway/speech/speech-call.js';
import { FakeBus } from '../helpers/fake-bus.js';

// The gateway's side of a speech answer against a fake bus: frames in order or a clear error.
const subjects = subjectsFor('agents');
const request: SpeechRequest = {
  v: 2,
  request_id: 'speech-1',
  intent: 'voice_processor',
  model: 'tts-1',
  input: 'hi',
  voice: 'alloy',
  format: 'wav',
  speed: 1,
  tenant: 'key_1',
  timeout_ms: 2_000,
};
const start = {
  type: 'start',
  voice: 'en-us+f3',
  format: 'wav',
  content_type: 'audio/wav',
  provider: 'espeak-ng',
  worker: 'w',
};
const audio = (text: string) => ({ type: 'audio', data: Buffer.from(text).toString('base64') });

/** A worker that answers every speech request with `frames`, numbered unless they carry a seq. */
function fakeWorker(bus: FakeBus, frames: Array<Record<string, unknown>>) {
  bus.subscribe(subjects.speech('voice_processor'), {
    queue: 'voice_processor',
    callback: (_err, msg) =>
      frames.forEach((frame, seq) => bus.publish(msg.reply!, encodeJson({ seq, request_id: 'speech-1', ...frame }))),
  });
}
const drain = async (gen: AsyncGenerator<Buffer>) => {
  const parts: string[] = [];
  for await (const chunk of gen) parts.push(chunk.toString());
  return parts;
};

// The call's inbox in the agent's scope (FakeBus numbers its inboxes), and whether a subject got a message.
const INBOX = '_INBOX.gateway.chat.voice_processor.fake1';
const sent = (bus: FakeBus, subject: string) => bus.published.some((m) => m.subject === subject);

t.test('frames in order: start, then the audio bytes', async (t) => {
  const bus = new FakeBus();
  fakeWorker(bus, [start, audio('ab'), audio('cd'), { type: 'done', bytes: 4, processing_ms: 1 }]);
  const call = await callSpeech(bus, subjects, request, new AbortController().signal);
  t.equal(call.start.voice, 'en-us+f3');
  t.same(await drain(call.audio), ['ab', 'cd']);
  t.equal(bus.subscribers(INBOX), 0, 'the inbox is closed');
  t.notOk(sent(bus, subjects.cancel('voice_processor')), 'no cancel');
});

t.test('no worker for the agent: 503 no_worker at once', async (t) => {
  const bus = new FakeBus();
  await t.rejects(callSpeech(bus, subjects, request, new AbortController().signal), { code: 'no_worker' });
});

t.test('a gap, a short answer or an error frame is never a complete answer', async (t) => {
  const gap = new FakeBus();
  fakeWorker(gap, [start, { ...audio('ab'), seq: 2 }]);
  const call = await callSpeech(gap, subjects, request, new AbortController().signal);
  await t.rejects(drain(call.audio), { code: 'stream_protocol_error' });
  const short = new FakeBus();
  fakeWorker(short, [start, audio('ab'), { type: 'done', bytes: 9, processing_ms: 1 }]);
  const shortCall = await callSpeech(short, subjects, request, new AbortController().signal);
  await t.rejects(drain(shortCall.audio), { code: 'stream_protocol_error', message: /2 of 9 bytes/ });
  const failed = new FakeBus();
  const error = { code: 'audio_format_unavailable', message: 'no ffmpeg', retryable: false, status: 400 };
  fakeWorker(failed, [{ type: 'error', error }]);
  await t.rejects(callSpeech(failed, subjects, request, new AbortController().signal), {
    code: 'audio_format_unavailable',
    message: 'no ffmpeg',
  });
});

t.test('the client leaving announces a cancel for the request', async (t) => {
  const bus = new FakeBus();
  fakeWorker(bus, [start, audio('ab')]);
  const left = new AbortController();
  const call = await callSpeech(bus, subjects, request, left.signal);
  t.equal((await call.audio.next()).value?.toString(), 'ab');
  left.abort();
  await t.rejects(call.audio.next(), { code: 'request_cancelled' });
  const cancel = bus.published.find((m) => m.subject === subjects.cancel('voice_processor'));
  t.equal(cancel && decodeCancelRequest(cancel.data).request_id, 'speech-1');
});

t.test('the client leaving before the audio is read lets go of the inbox all the same', async (t) => {
  const bus = new FakeBus();
  fakeWorker(bus, [start, audio('ab')]);
  const left = new AbortController();
  // A later piece of a spoken answer: started, then the client leaves before anyone reads it.
  await callSpeech(bus, subjects, request, left.signal);
  left.abort();
  t.equal(bus.subscribers(INBOX), 0, 'the inbox is closed');
  t.ok(sent(bus, subjects.cancel('voice_processor')), 'the worker is told');
});

t.test('a client gone before the call opens: nothing goes to the worker, request_cancelled at once', async (t) => {
  const bus = new FakeBus();
  fakeWorker(bus, [start, audio('ab')]);
  const left = new AbortController();
  left.abort();
  await t.rejects(callSpeech(bus, subjects, request, left.signal), { code: 'request_cancelled' });
  t.notOk(sent(bus, subjects.speech('voice_processor')), 'no request');
  t.equal(bus.subscribers(INBOX), 0, 'the inbox is closed');
});

t.test('a worker at its limit before start: the request is asked once more, its audit copy sent once', async (t) => {
  const bus = new FakeBus();
  const overloaded = { code: 'overloaded', message: 'at MAX_INFLIGHT', retryable: true, status: 503 };
  let requests = 0;
  bus.subscribe(subjects.speech('voice_processor'), {
    queue: 'voice_processor',
    callback: (_err, msg) => {
      const frames: Array<Record<string, unknown>> =
        requests++ === 0
          ? [{ type: 'error', error: overloaded }]
          : [start, audio('ab'), { type: 'done', bytes: 2, processing_ms: 1 }];
      frames.forEach((frame, seq) => bus.publish(msg.reply!, encodeJson({ seq, request_id: 'speech-1', ...frame })));
    },
  });
  const retried: string[] = [];
  const call = await callSpeech(bus, subjects, request, new AbortController().signal, {
    auditSubject: 'audit.speech',
    onRetry: (error) => retried.push(error.code),
  });
  t.same(await drain(call.audio), ['ab']);
  t.equal(requests, 2);
  t.same(retried, ['overloaded']);
  t.equal(bus.published.filter((m) => m.subject === 'audit.speech').length, 1, 'one audit copy');
});

t.test('a refusal that is the request itself is not asked again', async (t) => {
  const bus = new FakeBus();
  const error = { code: 'audio_format_unavailable', message: 'no ffmpeg', retryable: false, status: 400 };
  fakeWorker(bus, [{ type: 'error', error }]);
  await t.rejects(callSpeech(bus, subjects, request, new AbortController().signal), { code: error.code });
  t.equal(bus.published.filter((m) => m.subject === subjects.speech('voice_processor')).length, 1);
});

t.test('a worker that took the request but began wrong is told to stop, and no other is asked', async (t) => {
  const bus = new FakeBus();
  // Speaking already (audio before start), or a frame that cannot be read: either way it has the request.
  fakeWorker(bus, [audio('ab')]);
  await t.rejects(callSpeech(bus, subjects, request, new AbortController().signal), {
    code: 'stream_protocol_error',
    message: /began without "start"/,
  });
  t.equal(bus.published.filter((m) => m.subject === subjects.speech('voice_processor')).length, 1, 'one request');
  const cancel = bus.published.find((m) => m.subject === subjects.cancel('voice_processor'));
  t.equal(cancel && decodeCancelRequest(cancel.data).request_id, 'speech-1');
  t.equal(bus.subscribers(INBOX), 0, 'the inbox is closed');
});
