import t from 'tap';
import {
  decodeCancelRequest,
  decodeTranscriptionRequest,
  encodeJson,
  SPEECH_CHUNK_BYTES,
  subjectsFor,
  type TranscriptionRequest,
} from '../../bus-schemas/index.js';
import { StoppedBeforeAnswer } from '../../gateway/call/stopped-before-answer.js';
import { callTranscription } from '../../gateway/transcription/transcription-call.js';
import { Admission, ADMISSION_DEFAULTS } from '../../workers/admission.js';
import { defaultAudioChains } from '../../workers/audio/from-config.js';
import { InFlight } from '../../workers/in-flight.js';
import { handleTranscriptionRequest } from '../../workers/transcription-handler.js';
import { receiveUpload } from '../../workers/transcription/upload.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { agentWith, recordingLogger } from '../helpers/fake-provider.js';

// Both ends of a transcription's bus protocol on a fake bus: the gateway's call against the
// worker's upload receiver, the audio in ordered chunks, and the refusals of a broken exchange.
const subjects = subjectsFor('agents');
const audio = Buffer.alloc(SPEECH_CHUNK_BYTES * 2 + 1000, 7);
const request: TranscriptionRequest = {
  v: 2,
  request_id: 'transcribe-1',
  intent: 'voice_processor',
  model: 'whisper-1',
  format: 'wav',
  bytes: audio.length,
  tenant: 'key_1',
  timeout_ms: 2_000,
};
const done = { type: 'done', text: 'hi', language: 'en', duration: 1, segments: [], words: [], processing_ms: 1 };

/** A worker on `bus` that takes the upload with the real receiver and answers `answer(audio)`. */
function worker(bus: FakeBus, answer: (audio: Buffer) => object, upload = '_INBOX.worker.fake-upload') {
  const received: Buffer[] = [];
  bus.subscribe(subjects.transcribe('voice_processor'), {
    queue: 'voice_processor',
    callback: (_err, msg) => {
      const req = decodeTranscriptionRequest(msg.data);
      const reply = (seq: number, frame: object) =>
        bus.publish(msg.reply!, encodeJson({ ...frame, seq, request_id: req.request_id }));
      const inboxBus = { newInbox: () => upload, subscribe: bus.subscribe.bind(bus) };
      const taken = receiveUpload(inboxBus, req, new AbortController().signal);
      reply(0, { type: 'ready', upload: taken.subject, provider: 'pocketsphinx', worker: 'w1' });
      taken.audio.then(
        (bytes) => {
          received.push(bytes);
          reply(1, answer(bytes));
        },
        (err: Error) =>
          reply(1, { type: 'error', error: { code: 'stream_protocol_error', message: err.message, retryable: false } }),
      );
    },
  });
  return received;
}

t.test('the audio reaches the worker whole, in chunks of at most 32 KiB, then the transcript comes back', async (t) => {
  const bus = new FakeBus();
  const received = worker(bus, () => done);
  const answer = await callTranscription(bus, subjects, request, audio, new AbortController().signal);
  t.match(answer, { ready: { provider: 'pocketsphinx', worker: 'w1' }, done: { text: 'hi' } });
  t.same(received[0], audio);
  const frames = bus.published
    .filter((p) => p.subject === '_INBOX.worker.fake-upload')
    .map((p) => JSON.parse(Buffer.from(p.data).toString()) as { type: string; seq: number; data?: string });
  t.same(
    frames.map((f) => [f.type, f.seq, f.data ? Buffer.from(f.data, 'base64').length : undefined]),
    [
      ['audio', 0, SPEECH_CHUNK_BYTES],
      ['audio', 1, SPEECH_CHUNK_BYTES],
      ['audio', 2, 1000],
      ['end', 3, undefined],
    ],
  );
});

t.test('a worker that asks for the audio outside its own inboxes gets none', async (t) => {
  const bus = new FakeBus();
  worker(bus, () => done, 'agents.code_review.chat');
  await t.rejects(callTranscription(bus, subjects, request, audio, new AbortController().signal), {
    code: 'stream_protocol_error',
    message: /agents\.code_review\.chat/,
  });
  t.notOk(
    bus.published.some((p) => p.subject === 'agents.code_review.chat'),
    'nothing published there',
  );
  // That worker took the request: it is told to stop, and no other worker is asked.
  t.equal(bus.published.filter((p) => p.subject === subjects.transcribe('voice_processor')).length, 1, 'one request');
  const cancel = bus.published.find((p) => p.subject === subjects.cancel('voice_processor'));
  t.equal(cancel && decodeCancelRequest(cancel.data).request_id, 'transcribe-1', 'the worker is told to stop');
});

t.test('an upload shorter than announced is refused by the worker, never heard as whole', async (t) => {
  const bus = new FakeBus();
  worker(bus, () => done);
  await t.rejects(
    callTranscription(bus, subjects, { ...request, bytes: audio.length + 1 }, audio, new AbortController().signal),
    { code: 'stream_protocol_error', message: /ended at/ },
  );
});

t.test('no worker: 503 no_worker at once; a client that leaves announces a cancel', async (t) => {
  let bus = new FakeBus();
  await t.rejects(callTranscription(bus, subjects, request, audio, new AbortController().signal), {
    code: 'no_worker',
  });
  bus = new FakeBus();
  const left = new AbortController();
  bus.subscribe(subjects.transcribe('voice_processor'), { callback: () => left.abort() });
  await t.rejects(callTranscription(bus, subjects, request, audio, left.signal), { code: 'request_cancelled' });
  const cancel = bus.published.find((p) => p.subject === subjects.cancel('voice_processor'));
  t.equal(cancel && decodeCancelRequest(cancel.data).request_id, 'transcribe-1');
});

t.test('past the deadline the worker is told to stop too, so its engine does not run on for nobody', async (t) => {
  // A worker that read the request and never answers: its own deadline did not fire.
  const bus = new FakeBus();
  bus.subscribe(subjects.transcribe('voice_processor'), { callback: () => undefined });
  await t.rejects(
    callTranscription(bus, subjects, { ...request, timeout_ms: 10 }, audio, new AbortController().signal),
    { code: 'deadline_exceeded' },
  );
  const cancel = bus.published.find((p) => p.subject === subjects.cancel('voice_processor'));
  t.match(cancel && decodeCancelRequest(cancel.data), { request_id: 'transcribe-1', reason: 'deadline passed' });
});

t.test('the gateway stopping after ready: its 503, and the worker told to stop its engine', async (t) => {
  const bus = new FakeBus();
  // A worker that took the audio and is still hearing it when the gateway reaches its drain deadline.
  bus.subscribe(subjects.transcribe('voice_processor'), {
    callback: (_err, msg) => {
      const req = decodeTranscriptionRequest(msg.data);
      const inboxBus = { newInbox: () => '_INBOX.worker.fake-upload', subscribe: bus.subscribe.bind(bus) };
      const taken = receiveUpload(inboxBus, req, new AbortController().signal);
      const ready = { type: 'ready', upload: taken.subject, provider: 'pocketsphinx', worker: 'w1' };
      bus.publish(msg.reply!, encodeJson({ ...ready, seq: 0, request_id: req.request_id }));
      taken.audio.then(
        () => bus.failInboxes(new StoppedBeforeAnswer()),
        () => undefined,
      );
    },
  });
  await t.rejects(callTranscription(bus, subjects, request, audio, new AbortController().signal), {
    code: 'bus_unavailable',
    message: /GATEWAY_DRAIN_TIMEOUT_MS/,
  });
  const cancel = bus.published.find((p) => p.subject === subjects.cancel('voice_processor'));
  t.match(cancel && decodeCancelRequest(cancel.data), { request_id: 'transcribe-1', reason: /the gateway ended/ });
});

t.test('a worker without pocketsphinx answers at once, before any audio moves', async (t) => {
  const bus = new FakeBus('worker');
  const frames: Array<Record<string, unknown>> = [];
  bus.subscribe('_INBOX.gateway.reply', {
    callback: (_err, msg) => frames.push(JSON.parse(Buffer.from(msg.data).toString())),
  });
  const deps = {
    bus,
    agent: { ...agentWith('voice_processor'), transcription: { aliases: [] } },
    audio: defaultAudioChains(recordingLogger().log, {
      pocketsphinxPath: '/nowhere/pocketsphinx_continuous',
      modelDir: '/nowhere',
      ffmpegPath: 'ffmpeg',
      maxSeconds: 1500,
    }),
    admission: new Admission(ADMISSION_DEFAULTS),
    workerId: 'w1',
    log: recordingLogger().log,
  };
  const outcome = await handleTranscriptionRequest(
    deps,
    { data: encodeJson(request), reply: '_INBOX.gateway.reply' },
    new InFlight(),
  );
  t.same(outcome, { ok: false, code: 'transcription_engine_unavailable' });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(frames.length, 1, 'one frame: no ready, no upload inbox');
  t.match(frames[0], {
    type: 'error',
    seq: 0,
    request_id: 'transcribe-1',
    error: { code: 'transcription_engine_unavailable', status: 503, message: /apt-get install pocketsphinx/ },
  });
});

t.test('a worker at its limit before ready: another attempt, and the audio goes up once', async (t) => {
  const bus = new FakeBus();
  // First in the queue group, a worker at its limit takes the first request and leaves; the second
  // goes to the real worker.
  const busy = bus.subscribe(subjects.transcribe('voice_processor'), {
    queue: 'voice_processor',
    callback: (_err, msg) => {
      busy.unsubscribe();
      const error = { code: 'overloaded', message: 'at MAX_INFLIGHT', retryable: true, status: 503 };
      bus.publish(msg.reply!, encodeJson({ type: 'error', error, seq: 0, request_id: 'transcribe-1' }));
    },
  });
  const received = worker(bus, () => done);
  const answer = await callTranscription(bus, subjects, request, audio, new AbortController().signal);
  t.match(answer, { done: { text: 'hi' } });
  t.equal(received.length, 1, 'one upload');
});
