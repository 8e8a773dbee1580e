import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { AudioProviderName } from '../../common/agent-catalog.schema.js';
import { createRedactor } from '../../common/redaction.js';
import { createAudioChains } from '../../workers/audio/chains.js';
import type { TranscriptionChainRequest } from '../../workers/audio/transcription-chain.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeAudioProvider, hearFails, hears, listeningAgentWith } from '../helpers/fake-audio-provider.js';
import { recordingLogger } from '../helpers/fake-provider.js';

// Chains of transcription engines against fake engines behind our AudioProvider seam, breakers on
// a fake clock. pocketsphinx is local (LOCAL_AUDIO_PROVIDERS); openai is not.
const SPHINX = { provider: 'pocketsphinx', model: 'pocketsphinx' } as const;
const OPENAI = { provider: 'openai', model: 'whisper-1' } as const;
const cloudFirst = listeningAgentWith('cloud_first', [OPENAI, SPHINX]);
const localFirst = listeningAgentWith('local_first', [SPHINX, OPENAI]);
const cloudOnly = listeningAgentWith('cloud_only', [OPENAI]);
const byDefault = listeningAgentWith('by_default');
const audio = Buffer.from('RIFF....WAVE');

function setup(defaultTranscriptionProvider: AudioProviderName = 'pocketsphinx') {
  const clock = new FakeClock();
  const { log, lines } = recordingLogger();
  const fakes = {
    'espeak-ng': new FakeAudioProvider('espeak-ng'),
    pocketsphinx: new FakeAudioProvider('pocketsphinx'),
    openai: new FakeAudioProvider('openai'),
  };
  fakes.pocketsphinx.hear = hears('go forward ten meters');
  fakes.openai.hear = hears('Go forward ten meters.');
  const chains = createAudioChains(
    {
      createProvider: (name) => fakes[name],
      defaultProvider: 'espeak-ng',
      defaultTranscriptionProvider,
      localProviders: ['espeak-ng', 'pocketsphinx'],
      breakers: { failures: 2, cooldownMs: 30_000 },
      redactor: createRedactor({ patterns: [] }),
      clock,
    },
    log,
  );
  return { clock, lines, fakes, chains, log };
}

const ask = (extra: Partial<TranscriptionChainRequest> = {}): TranscriptionChainRequest => ({
  format: 'wav',
  private: false,
  ...extra,
});
const run = (chains: ReturnType<typeof setup>['chains'], agent = cloudFirst, extra = {}) =>
  chains.prepareTranscription(agent, ask(extra)).transcribe(audio, new AbortController().signal, setup().log);

t.test('no transcription.providers: TRANSCRIPTION_PROVIDER alone, pocketsphinx by default', async (t) => {
  t.same(setup().chains.transcriptionLinksOf(byDefault), [SPHINX]);
  t.same(setup('openai').chains.transcriptionLinksOf(byDefault), [OPENAI], 'openai asks for whisper-1');
  t.same(setup().chains.transcriptionLinksOf(cloudFirst), [OPENAI, SPHINX], "the catalog's chain otherwise");
});

t.test('the first engine hears it: its text, model and language, no fallback', async (t) => {
  const { chains, fakes } = setup();
  const prepared = chains.prepareTranscription(cloudFirst, ask({ language: 'de', format: 'mp3' }));
  t.equal(prepared.provider, 'openai', 'the engine the ready frame names');
  const heard = await prepared.transcribe(audio, new AbortController().signal, setup().log);
  t.match(heard, { provider: 'openai', model: 'whisper-1', text: 'Go forward ten meters.', language: 'de' });
  t.same(heard.fallback, []);
  t.match(fakes.openai.transcriptions[0], { model: 'whisper-1', format: 'mp3', language: 'de', audio });
  t.equal(fakes.pocketsphinx.transcriptions.length, 0);
});

t.test('an engine failing before its transcript hands the upload to the next', async (t) => {
  const { chains, fakes } = setup();
  fakes.openai.hear = hearFails('backend_unreachable');
  const heard = await run(chains);
  t.match(heard, { provider: 'pocketsphinx', text: 'go forward ten meters' });
  t.same(heard.fallback, [{ kind: 'provider', from: 'openai', to: 'pocketsphinx', reason: 'backend_unreachable' }]);
  t.equal(fakes.pocketsphinx.transcriptions[0]?.audio, audio, 'the same upload');
});

t.test("the client's own mistake (a 400) is not passed on to the next engine", async (t) => {
  const { chains, fakes } = setup();
  fakes.openai.hear = hearFails('invalid_request', 'unsupported file');
  await t.rejects(run(chains), { code: 'invalid_request' });
  t.equal(fakes.pocketsphinx.transcriptions.length, 0);
});

t.test('a private upload stays on local engines, or is refused with no_local_provider', async (t) => {
  const { chains, fakes } = setup();
  const prepared = chains.prepareTranscription(cloudFirst, ask({ private: true }));
  t.equal(prepared.provider, 'pocketsphinx');
  const heard = await prepared.transcribe(audio, new AbortController().signal, setup().log);
  t.match(heard, { provider: 'pocketsphinx', fallback: [{ from: 'openai', reason: 'not_local' }] });
  t.throws(() => chains.prepareTranscription(cloudOnly, ask({ private: true })), {
    code: 'no_local_provider',
    message: /pocketsphinx.*transcription\.providers/,
  });
  t.equal(fakes.openai.transcriptions.length, 0, 'openai heard nothing');
});

t.test('an engine that refuses before the upload is left out; when all refuse, the first says why', async (t) => {
  const { chains, fakes } = setup();
  const english = new AgentbusError('invalid_request', 'pocketsphinx has the US English model only', {
    param: 'language',
  });
  fakes.pocketsphinx.refusal = english;
  const prepared = chains.prepareTranscription(localFirst, ask({ language: 'fr' }));
  t.equal(prepared.provider, 'openai', 'openai takes French');
  t.match(await prepared.transcribe(audio, new AbortController().signal, setup().log), {
    provider: 'openai',
    language: 'fr',
  });
  t.throws(() => chains.prepareTranscription(byDefault, ask({ language: 'fr' })), english, 'pocketsphinx alone');
  t.throws(
    () => chains.prepareTranscription(cloudFirst, ask({ language: 'fr', private: true })),
    english,
    'a private French upload has no engine that may take it',
  );
});

t.test('pocketsphinx not installed moves the upload on to the next engine', async (t) => {
  const { chains, fakes } = setup();
  fakes.pocketsphinx.hear = hearFails('transcription_engine_unavailable', 'gone since the check');
  t.match(await run(chains, localFirst), {
    provider: 'openai',
    fallback: [{ from: 'pocketsphinx', reason: 'transcription_engine_unavailable' }],
  });
});

t.test('the breaker opens after repeated failures: openai is skipped, then tried again', async (t) => {
  const { chains, fakes, clock } = setup();
  fakes.openai.hear = hearFails('backend_error');
  for (let i = 0; i < 2; i++) t.equal((await run(chains)).provider, 'pocketsphinx');
  t.equal(fakes.openai.transcriptions.length, 2);
  t.equal(chains.prepareTranscription(cloudFirst, ask()).provider, 'pocketsphinx', 'ready names the one to listen');
  t.match(await run(chains), { provider: 'pocketsphinx', fallback: [{ from: 'openai', reason: 'circuit_open' }] });
  t.equal(fakes.openai.transcriptions.length, 2, 'no call while the circuit is open');
  await t.rejects(run(chains, cloudOnly), { code: 'backend_error', message: /not tried this time/ });
  fakes.openai.hear = hears('back');
  await clock.advance(30_000);
  t.match(await run(chains), { provider: 'openai', text: 'back' });
});

t.test('an engine that only speaks cannot be asked to listen', async (t) => {
  const { chains, fakes } = setup();
  Object.defineProperty(fakes['espeak-ng'], 'transcribe', { value: undefined });
  const speaker = listeningAgentWith('speaker', [{ provider: 'espeak-ng', model: 'espeak-ng' }]);
  t.throws(() => chains.prepareTranscription(speaker, ask()), { code: 'invalid_request', message: /not transcribe/ });
});
