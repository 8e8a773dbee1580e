import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startFakeOpenAIAudio } from '../helpers/fake-openai-audio.js';
import { goForwardWav, HOW_TO_INSTALL_TESTDATA, TESTDATA_DIR } from '../helpers/pocketsphinx-testdata.js';
import { existsSync } from 'node:fs';
import { AUTH, startStack } from '../helpers/stack.js';
import { traceLine } from '../helpers/trace-lines.js';

// Voice agents' chains of transcription engines end to end: gateway → NATS → worker → a fake
// OpenAI-compatible audio server on a real socket (multipart in, verbose_json out), or the real
// pocketsphinx on Debian's "go forward ten meters". voice_processor's chain is [openai,
// pocketsphinx]; cloud_ears's is [openai] alone. Two failures open a circuit.
if (!existsSync(TESTDATA_DIR))
  throw new Error(`no pocketsphinx test data at ${TESTDATA_DIR}. ${HOW_TO_INSTALL_TESTDATA}`);
const upstream = await startFakeOpenAIAudio();
t.teardown(() => upstream.close());
const stack = await startStack({
  env: {
    AGENTS_FILE: fileURLToPath(new URL('./fixtures/transcription-chain-agents.json', import.meta.url)),
    OPENAI_AUDIO_BASE_URL: upstream.url,
    OPENAI_AUDIO_API_KEY: 'sk-audio-test',
    BREAKER_FAILURES: '2',
    BREAKER_COOLDOWN_MS: '600000',
  },
});
t.teardown(() => stack.close());
const wav = goForwardWav();

const transcribe = (fields: Record<string, string>, headers: Record<string, string> = {}) => {
  const body = new FormData();
  body.append('file', new Blob([new Uint8Array(wav)]), 'speech.wav');
  for (const [key, value] of Object.entries({ model: 'whisper-1', ...fields })) body.append(key, value);
  return fetch(`${stack.baseUrl}/v1/audio/transcriptions`, {
    method: 'POST',
    headers: { authorization: AUTH.authorization, ...headers },
    body,
  });
};
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string; param: string | null } }).error;
const textOf = async (res: Response) => ((await res.json()) as { text: string }).text;

t.test('the openai engine hears it: multipart up, verbose_json mapped back', async (t) => {
  upstream.behave({});
  const res = await transcribe({ response_format: 'verbose_json', timestamp_granularities: 'word', language: 'en' });
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-agentbus-provider'), 'openai');
  const body = (await res.json()) as Record<string, any>;
  t.match(body, { text: upstream.heard, language: 'english', duration: 2.5 });
  t.same(body['segments'], [{ id: 0, start: 0.25, end: 2.25, text: upstream.heard }], "Whisper's space trimmed");
  t.equal(body['words'].length, 4);
  const sent = upstream.transcriptions.at(-1)!;
  t.match(sent.fields, { model: 'fake-whisper', response_format: 'verbose_json', language: 'en' });
  t.equal(sent.authorization, 'Bearer sk-audio-test');
  t.ok(sent.file.equals(wav), 'the upload, byte for byte');
  const line = await traceLine(stack.config.logDir, 'voice_processor', res.headers.get('x-request-id')!);
  t.match(line, { status: 200, model: 'openai:en', response_len: upstream.heard.length });
});

t.test("translations go to the server's /audio/translations, English text back", async (t) => {
  upstream.behave({});
  const body = new FormData();
  body.append('file', new Blob([new Uint8Array(wav)]), 'speech.wav');
  body.append('model', 'whisper-1');
  body.append('response_format', 'verbose_json');
  const headers = { authorization: AUTH.authorization };
  const res = await fetch(`${stack.baseUrl}/v1/audio/translations`, { method: 'POST', headers, body });
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-agentbus-provider'), 'openai');
  t.match(await res.json(), { task: 'translate', language: 'english', text: upstream.heard, duration: 2.5 });
  const sent = upstream.transcriptions.at(-1)!;
  t.equal(sent.path, '/v1/audio/translations');
  t.same(sent.fields, { model: 'fake-whisper', response_format: 'verbose_json' }, 'no language nor word times');
});

t.test('a language pocketsphinx does not know goes to openai; its default model is whisper-1', async (t) => {
  upstream.behave({});
  const res = await transcribe({ model: 'cloud_ears', language: 'fr' });
  t.equal(res.status, 200);
  t.equal(await textOf(res), upstream.heard);
  t.match(upstream.transcriptions.at(-1)!.fields, { model: 'whisper-1', language: 'fr' });
});

t.test('the server failing: the real pocketsphinx hears it instead', async (t) => {
  upstream.behave({ failWith: { status: 500, message: 'the GPU fell over' } });
  const before = upstream.transcriptions.length;
  const res = await transcribe({});
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-agentbus-provider'), 'pocketsphinx');
  t.equal(await textOf(res), 'go forward ten meters');
  t.equal(upstream.transcriptions.length, before + 1, 'openai was tried first');
  t.ok(
    stack.logs.lines.some(
      (l) => l['from'] === 'openai' && l['to'] === 'pocketsphinx' && l['reason'] === 'backend_error',
    ),
    'the worker logged the fallback',
  );
});

t.test('a private upload stays on pocketsphinx although openai is first', async (t) => {
  upstream.behave({});
  const before = upstream.transcriptions.length;
  const res = await transcribe({}, { 'x-private': 'true' });
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-agentbus-provider'), 'pocketsphinx');
  t.equal(await textOf(res), 'go forward ten meters');
  const cloud = await transcribe({ model: 'cloud_ears' }, { 'x-private': 'true' });
  t.equal(cloud.status, 503);
  t.match(await errorOf(cloud), { code: 'no_local_provider', message: /LOCAL_AUDIO_PROVIDERS/ });
  t.equal(upstream.transcriptions.length, before, 'the audio server heard none of them');
});

t.test('the breaker opens after repeated failures: the server is skipped', async (t) => {
  upstream.behave({});
  t.equal((await transcribe({})).status, 200, 'one success resets the count');
  upstream.behave({ failWith: { status: 503, message: 'overloaded' } });
  const before = upstream.transcriptions.length;
  for (let i = 0; i < 2; i++) {
    const res = await transcribe({});
    t.equal(res.headers.get('x-agentbus-provider'), 'pocketsphinx');
    await res.arrayBuffer();
  }
  t.equal(upstream.transcriptions.length, before + 2);
  const skipped = await transcribe({});
  t.equal(skipped.status, 200);
  t.equal(skipped.headers.get('x-agentbus-provider'), 'pocketsphinx', 'the ready frame already names it');
  t.equal(await textOf(skipped), 'go forward ten meters');
  t.equal(upstream.transcriptions.length, before + 2, 'no call while the circuit is open');
  const cloud = await transcribe({ model: 'cloud_ears' });
  t.equal(cloud.status, 502);
  t.match(await errorOf(cloud), { code: 'backend_error', message: /HTTP 503.*circuit open.*not tried this time/ });
  t.equal(upstream.transcriptions.length, before + 2);
  t.ok(stack.logs.lines.some((l) => String(l['msg']).includes('openai (audio): circuit opened')));
  const stats = await stack.workers[0]!.service.stats();
  const endpointData = (name: string) =>
    stats.endpoints?.find((endpoint) => endpoint.name === `${name}-transcribe`)?.data as Record<string, unknown>;
  t.match(endpointData('cloud_ears'), { providers_available: 0, unavailable: /openai: circuit open/ });
  t.match(endpointData('voice_processor'), { providers_available: 1 }, 'pocketsphinx can still listen');
});
