import t from 'tap';
import { createRedactor } from '../../common/redaction.js';
import type { AudioProviderName } from '../../common/agent-catalog.schema.js';
import { createAudioChains, type SpeakChainRequest } from '../../workers/audio/chains.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { collect, recordingLogger } from '../helpers/fake-provider.js';
import {
  FakeAudioProvider,
  speakFails,
  speakFailsAfter,
  speaks,
  voiceAgentWith,
} from '../helpers/fake-audio-provider.js';

// Chains of audio engines against fake engines behind our AudioProvider seam, breakers on a
// fake clock. espeak-ng is local (LOCAL_AUDIO_PROVIDERS); openai is not.
const ESPEAK = { provider: 'espeak-ng', model: 'espeak-ng' } as const;
const OPENAI = { provider: 'openai', model: 'tts-1' } as const;
const cloudFirst = voiceAgentWith('cloud_first', [OPENAI, ESPEAK]);
const cloudOnly = voiceAgentWith('cloud_only', [OPENAI]);
const byDefault = voiceAgentWith('by_default');

function setup(defaultProvider: AudioProviderName = 'espeak-ng') {
  const clock = new FakeClock();
  const { log, lines } = recordingLogger();
  const fakes = {
    'espeak-ng': new FakeAudioProvider('espeak-ng'),
    pocketsphinx: new FakeAudioProvider('pocketsphinx'),
    openai: new FakeAudioProvider('openai'),
  };
  const made: AudioProviderName[] = [];
  const chains = createAudioChains(
    {
      createProvider: (name) => {
        made.push(name);
        return fakes[name];
      },
      defaultProvider,
      defaultTranscriptionProvider: 'pocketsphinx',
      localProviders: ['espeak-ng', 'pocketsphinx'],
      breakers: { failures: 3, cooldownMs: 30_000 },
      redactor: createRedactor({ patterns: [{ name: 'openai_key', regex: 'sk-[A-Za-z0-9]{8,}' }] }),
      clock,
    },
    log,
  );
  return { clock, lines, fakes, made, chains, log };
}

const ask = (extra: Partial<SpeakChainRequest> = {}): SpeakChainRequest => ({
  input: 'Hello world',
  voice: 'alloy',
  format: 'wav',
  speed: 1,
  signal: new AbortController().signal,
  private: false,
  ...extra,
});
const bytesOf = async (audio: AsyncIterable<Buffer>) => Buffer.concat(await collect(audio)).toString();

t.test('no speech.providers: SPEECH_PROVIDER alone, espeak-ng by default', async (t) => {
  t.same(setup().chains.linksOf(byDefault), [ESPEAK]);
  t.same(setup('openai').chains.linksOf(byDefault), [OPENAI], 'openai asks for tts-1');
  t.same(setup().chains.linksOf(cloudFirst), [OPENAI, ESPEAK], "the catalog's chain otherwise");
});

t.test('the first engine speaks: its bytes, voice and model, no fallback', async (t) => {
  const { chains, fakes, made, log } = setup();
  fakes.openai.behave = speaks('ID3', 'mp3-bytes');
  const opened = await chains.speak(cloudFirst, ask({ format: 'mp3', speed: 1.5 }), log);
  t.match(opened, { provider: 'openai', model: 'tts-1', voice: 'alloy', fallback: [] });
  t.equal(await bytesOf(opened.audio), 'ID3mp3-bytes', 'the first chunk is replayed, then the rest');
  t.match(fakes.openai.calls[0], { model: 'tts-1', voice: 'alloy', format: 'mp3', speed: 1.5, input: 'Hello world' });
  t.same(made, ['openai'], 'espeak-ng was never needed');
});

t.test('an engine failing before its first byte hands the request to the next', async (t) => {
  const { chains, fakes, log, lines } = setup();
  fakes.openai.behave = speakFails('backend_unreachable');
  const opened = await chains.speak(cloudFirst, ask(), log);
  t.equal(opened.provider, 'espeak-ng');
  t.same(opened.fallback, [{ kind: 'provider', from: 'openai', to: 'espeak-ng', reason: 'backend_unreachable' }]);
  t.equal(await bytesOf(opened.audio), 'RIFFdata');
  t.ok(lines.some((l) => String(l['msg']).includes('provider openai did not answer')));
});

t.test('a server that answers with no audio at all counts as failing before the first byte', async (t) => {
  const { chains, fakes, log } = setup();
  fakes.openai.behave = speaks();
  const opened = await chains.speak(cloudFirst, ask(), log);
  t.match(opened.fallback, [{ from: 'openai', reason: 'backend_error' }]);
});

t.test('a failure after the first byte is the caller’s: nothing switches mid-audio', async (t) => {
  const { chains, fakes, log } = setup();
  fakes.openai.behave = speakFailsAfter(['ID3'], 'backend_error');
  const opened = await chains.speak(cloudFirst, ask(), log);
  t.equal(opened.provider, 'openai');
  await t.rejects(bytesOf(opened.audio), { code: 'backend_error' });
  t.equal(fakes['espeak-ng'].calls.length, 0);
});

t.test("the client's own mistake (a 400) is not passed on to the next engine", async (t) => {
  const { chains, fakes, log } = setup();
  fakes.openai.behave = speakFails('invalid_request', 'unknown voice');
  await t.rejects(chains.speak(cloudFirst, ask({ voice: 'robot' }), log), { code: 'invalid_request' });
  t.equal(fakes['espeak-ng'].calls.length, 0);
});

t.test('espeak-ng not installed moves the request on to the next engine', async (t) => {
  const { chains, fakes, log } = setup();
  fakes['espeak-ng'].behave = speakFails('speech_engine_unavailable', 'no espeak-ng');
  const agent = voiceAgentWith('local_first', [ESPEAK, OPENAI]);
  const opened = await chains.speak(agent, ask(), log);
  t.match(opened, { provider: 'openai', fallback: [{ from: 'espeak-ng', reason: 'speech_engine_unavailable' }] });
});

t.test('a one-engine chain keeps its engine’s own error', async (t) => {
  const { chains, fakes, log } = setup();
  fakes['espeak-ng'].behave = speakFails('speech_engine_unavailable', 'run "apt-get install espeak-ng"');
  await t.rejects(chains.speak(byDefault, ask(), log), {
    code: 'speech_engine_unavailable',
    message: /apt-get install espeak-ng/,
  });
});

t.test('a private request never reaches a non-local engine, even first in the chain', async (t) => {
  const { chains, fakes, log } = setup();
  const opened = await chains.speak(cloudFirst, ask({ private: true }), log);
  t.match(opened, { provider: 'espeak-ng', fallback: [{ from: 'openai', to: 'espeak-ng', reason: 'not_local' }] });
  t.equal(fakes.openai.calls.length, 0, 'openai never called');
  await t.rejects(chains.speak(cloudOnly, ask({ private: true }), log), {
    code: 'no_local_provider',
    message: /cloud_only.*openai: not local.*LOCAL_AUDIO_PROVIDERS/,
  });
  t.equal(fakes.openai.calls.length, 0);
});

t.test('secrets are masked for a non-local engine, kept for a local one', async (t) => {
  const { chains, fakes, log } = setup();
  const input = 'my key is sk-abcdefghijkl';
  await collect((await chains.speak(cloudFirst, ask({ input }), log)).audio);
  t.equal(fakes.openai.calls[0]?.input, 'my key is [REDACTED:openai_key]');
  await collect((await chains.speak(byDefault, ask({ input }), log)).audio);
  t.equal(fakes['espeak-ng'].calls[0]?.input, input);
});

t.test('the breaker opens after repeated failures, skips the engine, then lets one trial through', async (t) => {
  const { chains, fakes, log, clock } = setup();
  fakes.openai.behave = speakFails('backend_error', 'HTTP 500');
  for (let i = 0; i < 3; i++) {
    const opened = await chains.speak(cloudFirst, ask(), log);
    t.match(opened.fallback, [{ reason: 'backend_error' }]);
  }
  t.equal(fakes.openai.calls.length, 3);
  const skipped = await chains.speak(cloudFirst, ask(), log);
  t.match(skipped, { provider: 'espeak-ng', fallback: [{ from: 'openai', reason: 'circuit_open' }] });
  t.equal(fakes.openai.calls.length, 3, 'not called while the circuit is open');
  t.match(chains.unavailable(cloudOnly), /openai: circuit open/);
  t.equal(chains.unavailable(cloudFirst), undefined, 'espeak-ng can still speak');
  await clock.advance(30_000);
  fakes.openai.behave = speaks('ID3');
  t.equal((await chains.speak(cloudFirst, ask(), log)).provider, 'openai', 'the trial succeeds');
  t.equal(chains.unavailable(cloudOnly), undefined, 'closed again');
});

t.test('with every engine behind an open circuit, the error says when the first lets a trial through', async (t) => {
  const { chains, fakes, log, clock } = setup();
  fakes.openai.behave = speakFails('backend_error', 'HTTP 500');
  fakes['espeak-ng'].behave = speakFails('backend_error', 'espeak-ng crashed');
  for (let i = 0; i < 3; i++) await t.rejects(chains.speak(cloudFirst, ask(), log));
  await clock.advance(10_000);
  await t.rejects(chains.speak(cloudFirst, ask(), log), {
    code: 'no_provider_available',
    retryAfterMs: 20_000,
    message: /openai: circuit open.*espeak-ng: circuit open/,
  });
});

t.test('an abort stops the chain at once and does not count against the engine', async (t) => {
  const { chains, fakes, log } = setup();
  const left = new AbortController();
  fakes.openai.behave = () => {
    left.abort(new Error('client left'));
    return Promise.reject(new Error('client left'));
  };
  await t.rejects(chains.speak(cloudFirst, ask({ signal: left.signal }), log), { message: 'client left' });
  t.equal(fakes['espeak-ng'].calls.length, 0);
});

t.test('a consumer that stops early stops the engine', async (t) => {
  const { chains, fakes, log } = setup();
  fakes.openai.behave = speaks('a', 'b', 'c');
  const opened = await chains.speak(cloudFirst, ask(), log);
  for await (const chunk of opened.audio) {
    t.equal(chunk.toString(), 'a');
    break;
  }
  t.equal(fakes.openai.stopped, 1);
});
