import t from 'tap';
import type { PackageInstaller } from '../../workers/audio/engine-install.js';
import { createEspeakNgProvider } from '../../workers/audio/espeak-ng/index.js';
import type { SpeakRequest } from '../../workers/audio/types.js';
import { recordingLogger } from '../helpers/fake-provider.js';

// The espeak-ng engine when its binaries are missing, with a fake installer: what a request is
// told, and when an install is attempted. Nothing is spawned: every failure comes first.
const { log } = recordingLogger();
const MISSING = { espeakPath: 'agentbus-no-such-espeak', ffmpegPath: 'agentbus-no-such-ffmpeg' };
function installer(refusal?: string): PackageInstaller & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    refusal: () => refusal,
    install: (name) => {
      calls.push(name);
      return Promise.reject(new Error(`"apt-get install -y ${name}" failed (exit 100)`));
    },
  };
}
const ask = (extra: Partial<SpeakRequest> = {}): SpeakRequest => ({
  model: 'espeak-ng',
  input: 'Hello',
  voice: 'alloy',
  format: 'wav',
  speed: 1,
  signal: new AbortController().signal,
  log,
  ...extra,
});

t.test('not root: 503 speech_engine_unavailable naming the command, nothing installed', async (t) => {
  const fake = installer('the worker does not run as root, so it cannot install it');
  const engine = createEspeakNgProvider(MISSING, fake, log);
  await t.rejects(engine.speak!(ask()), {
    code: 'speech_engine_unavailable',
    message: /ESPEAK_NG_PATH.*not installed, and the worker does not run as root.*run "apt-get install espeak-ng"/,
  });
  t.same(fake.calls, []);
});

t.test('root: the install is tried once; its failure is named on every request', async (t) => {
  const fake = installer();
  const engine = createEspeakNgProvider(MISSING, fake, log);
  for (let i = 0; i < 2; i++)
    await t.rejects(engine.speak!(ask()), {
      code: 'speech_engine_unavailable',
      message: /installing it failed.*exit 100/,
    });
  t.same(fake.calls, ['espeak-ng']);
});

t.test('an unknown voice is refused before anything is installed', async (t) => {
  const fake = installer();
  const engine = createEspeakNgProvider(MISSING, fake, log);
  await t.rejects(engine.speak!(ask({ voice: 'robot' })), { code: 'invalid_request', param: 'voice' });
  t.same(fake.calls, []);
});

t.test('a missing encoder is audio_format_unavailable naming ffmpeg; wav still works without it', async (t) => {
  const fake = installer('the worker does not run as root, so it cannot install it');
  // Any existing executable stands in for espeak-ng: the request fails on the encoder before a spawn.
  const engine = createEspeakNgProvider({ espeakPath: process.execPath, ffmpegPath: '/nowhere/ffmpeg' }, fake, log);
  await t.rejects(engine.speak!(ask({ format: 'mp3' })), {
    code: 'audio_format_unavailable',
    message: /"mp3" needs ffmpeg \("\/nowhere\/ffmpeg", FFMPEG_PATH\), which is not found at its configured path/,
  });
  t.same(fake.calls, [], 'a configured path is never installed');
});
