import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startFakeOpenAIAudio } from '../helpers/fake-openai-audio.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { traceLine } from '../helpers/trace-lines.js';

// Voice agents' chains of audio engines end to end: gateway → NATS → worker → a fake
// OpenAI-compatible audio server on a real socket, or the real espeak-ng. voice_processor's chain
// is [openai, espeak-ng]; cloud_voice's is [openai] alone. Two failures open a circuit.
const upstream = await startFakeOpenAIAudio();
t.teardown(() => upstream.close());
const stack = await startStack({
  env: {
    AGENTS_FILE: fileURLToPath(new URL('./fixtures/audio-chain-agents.json', import.meta.url)),
    OPENAI_AUDIO_BASE_URL: upstream.url,
    OPENAI_AUDIO_API_KEY: 'sk-audio-test',
    BREAKER_FAILURES: '2',
    BREAKER_COOLDOWN_MS: '600000',
  },
});
t.teardown(() => stack.close());

const speak = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  fetch(`${stack.baseUrl}/v1/audio/speech`, {
    method: 'POST',
    headers: { ...AUTH, ...headers },
    body: JSON.stringify({ model: 'tts-1', voice: 'alloy', response_format: 'wav', input: 'Hello world', ...body }),
  });
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string; param: string | null } }).error;
const isEspeakWav = (wav: Buffer) => wav.toString('latin1', 0, 4) === 'RIFF' && wav.readUInt32LE(24) === 22050;

t.test('the openai engine speaks: its audio relayed byte for byte', async (t) => {
  upstream.behave({});
  const res = await speak({ input: 'Hello from upstream', voice: 'nova', speed: 1.25 });
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-agentbus-provider'), 'openai');
  t.equal(res.headers.get('x-agentbus-voice'), 'nova');
  t.equal(res.headers.get('content-type'), 'audio/wav');
  t.ok(Buffer.from(await res.arrayBuffer()).equals(upstream.wav), "the server's WAV, unchanged");
  t.match(upstream.requests.at(-1), {
    body: { model: 'fake-tts', voice: 'nova', input: 'Hello from upstream', response_format: 'wav', speed: 1.25 },
    authorization: 'Bearer sk-audio-test',
  });
  const line = await traceLine(stack.config.logDir, 'voice_processor', res.headers.get('x-request-id')!);
  t.match(line, { status: 200, model: 'openai:nova', response_len: upstream.wav.length });
});

t.test('streamed: the chunks come through in order', async (t) => {
  upstream.behave({});
  const res = await speak({ stream_format: 'audio', response_format: 'mp3' });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'audio/mpeg');
  t.ok(Buffer.from(await res.arrayBuffer()).equals(upstream.wav), 'every piece, in order');
  t.equal(upstream.requests.at(-1)?.body['response_format'], 'mp3', 'the format is asked of the server');
});

t.test('the server failing before its first byte: espeak-ng speaks instead', async (t) => {
  upstream.behave({ failWith: { status: 500, message: 'the GPU fell over' } });
  const before = upstream.requests.length;
  const res = await speak({ input: 'Fall back to the local engine' });
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-agentbus-provider'), 'espeak-ng');
  t.equal(res.headers.get('x-agentbus-voice'), 'en-us+f3');
  t.ok(isEspeakWav(Buffer.from(await res.arrayBuffer())), "espeak-ng's 22 050 Hz WAV");
  t.equal(upstream.requests.length, before + 1, 'openai was tried first');
  t.ok(
    stack.logs.lines.some((l) => l['from'] === 'openai' && l['to'] === 'espeak-ng' && l['reason'] === 'backend_error'),
    'the worker logged the fallback',
  );
});

t.test('a failure after the first byte is the client’s error, not a silent switch', async (t) => {
  upstream.behave({ cutAfterBytes: 8192 });
  const res = await speak({ input: 'Cut off' });
  t.equal(res.status, 502);
  t.match(await errorOf(res), { code: 'backend_error', message: /audio server at .* failed mid-answer/ });
});

t.test('a private request stays on espeak-ng although openai is first', async (t) => {
  upstream.behave({});
  const before = upstream.requests.length;
  const res = await speak({ input: 'A private sentence' }, { 'x-private': 'true' });
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-agentbus-provider'), 'espeak-ng');
  t.ok(isEspeakWav(Buffer.from(await res.arrayBuffer())));
  const secret = await speak({ input: 'my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123456789' });
  t.equal(secret.headers.get('x-agentbus-provider'), 'espeak-ng', 'a secret in the text makes it private');
  await secret.arrayBuffer();
  const cloud = await speak({ model: 'cloud_voice' }, { 'x-private': 'true' });
  t.equal(cloud.status, 503);
  t.match(await errorOf(cloud), { code: 'no_local_provider', message: /LOCAL_AUDIO_PROVIDERS/ });
  t.equal(upstream.requests.length, before, 'the audio server heard none of them');
});

t.test('the breaker opens after repeated failures: the server is skipped', async (t) => {
  upstream.behave({});
  t.equal((await speak({ input: 'one success resets the count' })).status, 200);
  upstream.behave({ failWith: { status: 503, message: 'overloaded' } });
  const before = upstream.requests.length;
  for (let i = 0; i < 2; i++) {
    const res = await speak({ input: `failure ${i}` });
    t.equal(res.headers.get('x-agentbus-provider'), 'espeak-ng');
    await res.arrayBuffer();
  }
  t.equal(upstream.requests.length, before + 2);
  const skipped = await speak({ input: 'the circuit is open' });
  t.equal(skipped.status, 200);
  t.equal(skipped.headers.get('x-agentbus-provider'), 'espeak-ng');
  await skipped.arrayBuffer();
  t.equal(upstream.requests.length, before + 2, 'no call while the circuit is open');
  const cloud = await speak({ model: 'cloud_voice' });
  t.equal(cloud.status, 502);
  t.match(await errorOf(cloud), { code: 'backend_error', message: /HTTP 503.*circuit open.*not tried this time/ });
  t.equal(upstream.requests.length, before + 2);
  t.ok(stack.logs.lines.some((l) => String(l['msg']).includes('openai (audio): circuit opened')));
  const stats = await stack.workers[0]!.service.stats();
  const speechData = (name: string) =>
    stats.endpoints?.find((endpoint) => endpoint.name === `${name}-speech`)?.data as Record<string, unknown>;
  t.match(speechData('cloud_voice'), { providers_available: 0, unavailable: /openai: circuit open/ });
  t.match(speechData('voice_processor'), { providers_available: 1 }, 'espeak-ng can still speak');
});
