import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { SPEECH_FORMATS } from '../../bus-schemas/index.js';
import { CONTENT_TYPES, FFMPEG_OUTPUT } from '../../workers/speech/formats.js';
import { planSpeech } from '../../workers/speech/plan.js';
import { espeakVoice, languageOf, wordsPerMinute } from '../../workers/speech/voice.js';

t.test('Bengali script picks bn, whatever voice is named; anything else English', async (t) => {
  t.equal(languageOf('বাংলায় টেক্সট-টু-স্পিচ তৈরি করো'), 'bn');
  t.equal(languageOf('Say আমি ভালো আছি please'), 'bn', 'mostly Bengali letters');
  t.equal(languageOf('Convert to speech: Hello world'), 'en-us');
  t.equal(languageOf('Hello world, one Bengali word: আমি'), 'en-us', 'a Bengali word in English text');
  t.equal(languageOf('12345 !?'), 'en-us', 'no letters');
  t.equal(espeakVoice('alloy', 'আমি'), 'bn+f3');
  t.equal(espeakVoice('Echo', 'hello'), 'en-us+m3', 'voice names in any case');
});

t.test('an unknown voice is a 400 naming the voices', async (t) => {
  const err = t.throws(() => espeakVoice('robot', 'hi')) as AgentbusError;
  t.equal(err.code, 'invalid_request');
  t.equal(err.param, 'voice');
  t.match(err.message, /alloy, ash/);
  for (const inherited of ['constructor', '__proto__', 'toString', 'hasOwnProperty'])
    t.match(
      t.throws(() => espeakVoice(inherited, 'hi')),
      { param: 'voice' },
      `${inherited}: not a voice`,
    );
});

t.test("speed maps to espeak-ng's words per minute, clamped to what it accepts", async (t) => {
  t.equal(wordsPerMinute(1), 175);
  t.equal(wordsPerMinute(2), 350);
  t.equal(wordsPerMinute(0.25), 80);
  t.equal(wordsPerMinute(4), 450);
});

t.test('the plan: text on stdin, ffmpeg only when encoding, missing binaries named', async (t) => {
  const settings = { espeakPath: 'espeak-ng', ffmpegPath: 'ffmpeg' };
  const all = (command: string) => `/usr/bin/${command}`;
  const wav = planSpeech({ input: 'hi', voice: 'nova', format: 'wav', speed: 1 }, settings, all);
  t.same(wav.espeak.args, ['--stdout', '--stdin', '-v', 'en-us+f2', '-s', '175']);
  t.equal(wav.ffmpeg, undefined);
  t.equal(wav.contentType, 'audio/wav');
  const mp3 = planSpeech({ input: 'hi', voice: 'nova', format: 'mp3', speed: 1 }, settings, all);
  t.equal(mp3.ffmpeg?.command, '/usr/bin/ffmpeg');
  t.match(mp3.ffmpeg?.args.join(' '), /-i pipe:0 .*libmp3lame.* pipe:1$/);
  const aac = planSpeech({ input: 'hi', voice: 'nova', format: 'aac', speed: 1 }, settings, all);
  t.match(aac.ffmpeg?.args.join(' '), /-i pipe:0 -c:a aac .*-f adts pipe:1$/, "an ADTS stream, as OpenAI's");
  t.equal(aac.contentType, 'audio/aac');
  const noFfmpeg = (command: string) => (command === 'ffmpeg' ? undefined : all(command));
  t.throws(() => planSpeech({ input: 'hi', voice: 'nova', format: 'aac', speed: 1 }, settings, noFfmpeg), {
    code: 'audio_format_unavailable',
    param: 'response_format',
    message: /"aac" needs ffmpeg.*apt-get install ffmpeg/,
  });
  const format = t.throws(() =>
    planSpeech({ input: 'hi', voice: 'nova', format: 'opus', speed: 1 }, settings, noFfmpeg),
  ) as AgentbusError;
  t.match(format, {
    code: 'audio_format_unavailable',
    param: 'response_format',
    message: /opus.*apt-get install ffmpeg/,
  });
  const engine = t.throws(() =>
    planSpeech({ input: 'hi', voice: 'nova', format: 'wav', speed: 1 }, settings, () => undefined),
  ) as AgentbusError;
  t.match(engine, { code: 'speech_engine_unavailable', message: /apt-get install espeak-ng/ });
});

t.test("every format of the bus schema has a Content-Type (OpenAI's) and, but wav, an encoder", async (t) => {
  t.same(Object.keys(CONTENT_TYPES).sort(), [...SPEECH_FORMATS].sort());
  t.same(Object.keys(FFMPEG_OUTPUT).sort(), SPEECH_FORMATS.filter((format) => format !== 'wav').sort());
  t.same(CONTENT_TYPES, {
    wav: 'audio/wav',
    mp3: 'audio/mpeg',
    opus: 'audio/ogg',
    aac: 'audio/aac',
    flac: 'audio/flac',
    pcm: 'audio/pcm',
  });
});
