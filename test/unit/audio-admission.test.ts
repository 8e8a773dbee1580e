import t from 'tap';
import { AgentbusError, encodeJson, type SpeechRequest, type TranscriptionRequest } from '../../bus-schemas/index.js';
import { createRedactor } from '../../common/redaction.js';
import { Admission } from '../../workers/admission.js';
import { createAudioChains } from '../../workers/audio/chains.js';
import { InFlight } from '../../workers/in-flight.js';
import { handleSpeechRequest } from '../../workers/speech-handler.js';
import { handleTranscriptionRequest } from '../../workers/transcription-handler.js';
import { FakeAudioProvider } from '../helpers/fake-audio-provider.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { agentWith, recordingLogger } from '../helpers/fake-provider.js';
import { waitFor } from '../helpers/wait.js';

// Speech and transcription take a slot of the worker's gate (MAX_INFLIGHT) as chat does: a full
// gate answers `overloaded` before any engine runs, and the slot is freed however the work ends.
const REPLY = '_INBOX.gateway.reply';
const agent = {
  ...agentWith('voice_processor'),
  speech: { aliases: [], providers: undefined },
  transcription: { aliases: [], providers: undefined },
};
const speech: SpeechRequest = {
  v: 2,
  request_id: 'speech-1',
  intent: 'voice_processor',
  model: 'tts-1',
  input: 'hi',
  voice: 'alloy',
  format: 'wav',
  speed: 1,
  tenant: 'key_1',
  timeout_ms: 5_000,
};
const transcription: TranscriptionRequest = {
  v: 2,
  request_id: 'transcribe-1',
  intent: 'voice_processor',
  model: 'whisper-1',
  format: 'wav',
  bytes: 10,
  tenant: 'key_1',
  timeout_ms: 5_000,
};

function setup() {
  const bus = new FakeBus('worker');
  const frames: Array<Record<string, any>> = [];
  bus.subscribe(REPLY, { callback: (_err, msg) => frames.push(JSON.parse(Buffer.from(msg.data).toString())) });
  const engine = new FakeAudioProvider('espeak-ng');
  const ears = new FakeAudioProvider('pocketsphinx');
  const { log } = recordingLogger();
  const audio = createAudioChains(
    {
      createProvider: (name) => (name === 'pocketsphinx' ? ears : engine),
      defaultProvider: 'espeak-ng',
      defaultTranscriptionProvider: 'pocketsphinx',
      localProviders: ['espeak-ng', 'pocketsphinx'],
      breakers: { failures: 2, cooldownMs: 30_000 },
      redactor: createRedactor({ patterns: [] }),
      clock: new FakeClock(),
    },
    log,
  );
  // One call at a time and no queue: a second request is refused at once.
  const admission = new Admission({ maxInflight: 1, maxQueued: 0, queueTimeoutMs: 1_000 });
  const deps = { bus, agent, audio, admission, workerId: 'w1', log };
  return { bus, frames, engine, ears, admission, deps };
}

const busy = (admission: Admission) => admission.acquire(new AbortController().signal);

t.test('speech waits for a free call: overloaded when none is, and the slot is freed after', async (t) => {
  const { frames, engine, admission, deps } = setup();
  const held = await busy(admission);
  const msg = { data: encodeJson(speech), reply: REPLY };
  t.same(await handleSpeechRequest(deps, msg, new InFlight()), { ok: false, code: 'overloaded' });
  await waitFor('the error frame', () => frames.length === 1);
  t.match(frames[0], { type: 'error', error: { code: 'overloaded', status: 503, retryable: true } });
  t.equal(engine.calls.length, 0, 'no engine ran');
  held.release();
  t.same(await handleSpeechRequest(deps, msg, new InFlight()), { ok: true });
  t.equal(engine.calls.length, 1);
  t.equal(admission.running, 0, 'its slot was given back');
});

t.test('transcription takes its slot before "ready": refused, no audio travels', async (t) => {
  const { frames, ears, admission, deps } = setup();
  const held = await busy(admission);
  const msg = { data: encodeJson(transcription), reply: REPLY };
  t.same(await handleTranscriptionRequest(deps, msg, new InFlight()), { ok: false, code: 'overloaded' });
  await waitFor('the error frame', () => frames.length === 1);
  t.match(frames, [{ type: 'error', seq: 0, error: { code: 'overloaded' } }], 'no ready, so no upload');
  t.equal(ears.transcriptions.length, 0);
  held.release();
});

t.test('a transcription holds its slot while it waits for the upload; a cancel frees it', async (t) => {
  const { frames, admission, deps } = setup();
  const inFlight = new InFlight();
  const handled = handleTranscriptionRequest(deps, { data: encodeJson(transcription), reply: REPLY }, inFlight);
  await waitFor('ready', () => frames.some((f) => f['type'] === 'ready'));
  t.equal(admission.running, 1, 'the slot is held');
  inFlight.cancel('transcribe-1', new AgentbusError('request_cancelled', 'client left'));
  t.same(await handled, { ok: false, code: 'request_cancelled' });
  t.equal(admission.running, 0, 'and given back');
});
