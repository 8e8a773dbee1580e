import t from 'tap';
import { AgentbusError, type TranscriptionDone } from '../../bus-schemas/index.js';
import { renderTranscript } from '../../gateway/transcription/render.js';
import { sniffAudio } from '../../gateway/transcription/sniff-audio.js';
import { planTranscription } from '../../workers/transcription/plan.js';
import { parsePocketsphinxOutput } from '../../workers/transcription/pocketsphinx-output.js';
import { recognize } from '../../workers/transcription/recognize.js';
import { pcm16kSamples } from '../../workers/transcription/wav-header.js';
import { wavOf } from '../helpers/pocketsphinx-testdata.js';

// The pieces of a transcription that need no engine: reading pocketsphinx's output, telling a
// WAV that needs no ffmpeg, sniffing uploads, the plan's refusals and the response formats.
const output = [
  'go forward ten meters',
  '<s> 0.390 0.460 1.000100',
  'go 0.470 0.640 0.997303',
  'forward 0.650 1.170 0.996705',
  '<sil> 1.170 1.180 0.5',
  'ten 1.180 1.530 0.236604',
  'meters 1.540 2.120 0.947616',
  '</s> 2.130 2.610 1.000000',
  'he was not',
  '<s> 4.670 4.770 0.999400',
  'he 5.010 5.120 0.998601',
  'was(2) 5.130 5.340 0.999500',
  '[SPEECH] 5.350 5.400 0.6',
  'not 5.350 5.770 0.998601',
  '</s> 5.780 5.900 1.000000',
  '',
].join('\n');

t.test("pocketsphinx's -time output: an utterance per segment, fillers dropped, alternates merged", async (t) => {
  const heard = parsePocketsphinxOutput(output);
  t.same(heard.segments, [
    { start: 0.47, end: 2.12, text: 'go forward ten meters' },
    { start: 5.01, end: 5.77, text: 'he was not' },
  ]);
  t.same(
    heard.words.map((w) => w.word),
    ['go', 'forward', 'ten', 'meters', 'he', 'was', 'not'],
  );
  t.same(heard.words[1], { word: 'forward', start: 0.65, end: 1.17 });
  t.same(parsePocketsphinxOutput(''), { segments: [], words: [] }, 'silence: nothing heard');
  t.same(parsePocketsphinxOutput('\n<s> 0.0 0.1 1\n</s> 0.1 0.2 1\n').segments, [], 'an empty utterance');
});

t.test('only a 16 kHz mono 16-bit PCM WAV skips ffmpeg', async (t) => {
  const pcm = Buffer.alloc(320, 1);
  t.same(pcm16kSamples(wavOf(pcm)), pcm);
  t.equal(pcm16kSamples(wavOf(pcm, 22_050)), undefined, "espeak-ng's 22 kHz");
  const stereo = wavOf(pcm);
  stereo.writeUInt16LE(2, 22);
  t.equal(pcm16kSamples(stereo), undefined);
  // A LIST chunk before the data, as ffmpeg writes: skipped.
  const listed = Buffer.concat([
    wavOf(pcm).subarray(0, 36),
    Buffer.from('LIST\x04\x00\x00\x00abcd', 'latin1'),
    wavOf(pcm).subarray(36),
  ]);
  t.same(pcm16kSamples(listed), pcm);
  // A chunk after the data is not heard as sound.
  t.same(pcm16kSamples(Buffer.concat([wavOf(pcm), Buffer.from('LIST\x04\x00\x00\x00abcd', 'latin1')])), pcm);
  t.equal(pcm16kSamples(Buffer.from('not a wav')), undefined);
});

t.test('uploads are sniffed by their first bytes; anything else is a 400 naming file', async (t) => {
  t.equal(sniffAudio(wavOf(Buffer.alloc(2))), 'wav');
  t.equal(sniffAudio(Buffer.from('ID3\x04\x00', 'latin1')), 'mp3');
  t.equal(sniffAudio(Buffer.from([0xff, 0xfb, 0x90, 0x64])), 'mp3', 'an MPEG frame without ID3');
  t.equal(sniffAudio(Buffer.from('OggS\x00\x02', 'latin1')), 'ogg');
  t.equal(sniffAudio(Buffer.from('fLaC\x00', 'latin1')), 'flac');
  t.equal(sniffAudio(Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x01])), 'webm');
  t.equal(sniffAudio(Buffer.from('\x00\x00\x00\x1cftypM4A \x00\x00', 'latin1')), 'mp4', 'm4a: an ftyp box first');
  for (const bytes of [Buffer.from('{"text": "hi"}'), Buffer.from('%PDF-1.7'), Buffer.alloc(0)]) {
    const err = t.throws(() => sniffAudio(bytes)) as AgentbusError;
    t.match(err, { code: 'audio_file_invalid', param: 'file', status: 400 });
  }
});

t.test('the plan names what is missing and refuses other languages', async (t) => {
  const settings = {
    pocketsphinxPath: 'pocketsphinx_continuous',
    modelDir: '/m',
    ffmpegPath: 'ffmpeg',
    maxSeconds: 60,
  };
  const all = (command: string) => `/usr/bin/${command}`;
  const plan = planTranscription({ format: 'mp3', language: 'en' }, settings, all, () => true);
  t.equal(plan.pocketsphinx.command, '/usr/bin/pocketsphinx_continuous');
  t.match(plan.pocketsphinx.args.join(' '), /-time yes -hmm \/m\/en-us -lm \/m\/en-us\.lm\.bin -dict \/m\/cmudict/);
  t.equal(plan.ffmpeg, '/usr/bin/ffmpeg');
  t.equal(plan.maxSeconds, 60, 'MAX_TRANSCRIPTION_SECONDS travels with the plan');
  let err = t.throws(() =>
    planTranscription(
      { format: 'wav' },
      settings,
      () => undefined,
      () => true,
    ),
  ) as AgentbusError;
  t.match(err, { code: 'transcription_engine_unavailable', status: 503 });
  t.match(err.message, /apt-get install pocketsphinx pocketsphinx-en-us/);
  err = t.throws(() => planTranscription({ format: 'wav' }, settings, all, () => false)) as AgentbusError;
  t.match(err, { code: 'transcription_engine_unavailable', message: /POCKETSPHINX_MODEL_DIR/ });
  err = t.throws(() =>
    planTranscription({ format: 'wav', language: 'bn' }, settings, all, () => true),
  ) as AgentbusError;
  t.match(err, { code: 'invalid_request', param: 'language' });
  t.ok(planTranscription({ format: 'wav', language: 'en-US' }, settings, all, () => true));
});

t.test('each response_format', async (t) => {
  const done: TranscriptionDone = {
    type: 'done',
    seq: 1,
    request_id: 'transcribe-1',
    text: 'go forward ten meters he was not',
    language: 'en',
    duration: 3661.2,
    segments: [
      { start: 0.47, end: 2.12, text: 'go forward ten meters' },
      { start: 3600.5, end: 3661.0049, text: 'he was not' },
    ],
    words: [{ word: 'go', start: 0.47, end: 0.64 }],
    processing_ms: 5,
  };
  t.same(renderTranscript(done, 'json', false).body, {
    text: done.text,
    usage: { type: 'duration', seconds: 3662 },
  });
  t.equal(renderTranscript(done, 'text', false).body, `${done.text}\n`);
  const verbose = renderTranscript(done, 'verbose_json', true).body;
  t.match(verbose, { task: 'transcribe', language: 'english', duration: 3661.2, words: done.words });
  t.same((verbose as { segments: unknown[] }).segments[1], {
    id: 1,
    start: 3600.5,
    end: 3661.0049,
    text: 'he was not',
  });
  t.notOk('words' in (renderTranscript(done, 'verbose_json', false).body as object), 'words only when asked');
  t.equal(
    renderTranscript(done, 'srt', false).body,
    '1\n00:00:00,470 --> 00:00:02,120\ngo forward ten meters\n\n2\n01:00:00,500 --> 01:01:01,005\nhe was not\n\n',
  );
  const vtt = renderTranscript(done, 'vtt', false);
  t.equal(vtt.contentType, 'text/vtt; charset=utf-8');
  t.equal(
    vtt.body,
    'WEBVTT\n\n00:00:00.470 --> 00:00:02.120\ngo forward ten meters\n\n01:00:00.500 --> 01:01:01.005\nhe was not\n\n',
  );
});

t.test('without ffmpeg only a 16 kHz mono WAV can be heard; other audio is refused by name', async (t) => {
  const plan = {
    pocketsphinx: { command: '/nowhere/pocketsphinx_continuous', args: [] },
    ffmpeg: undefined,
    format: 'mp3' as const,
    maxSeconds: 1500,
  };
  const err = (await recognize(plan, Buffer.from('ID3\x04'), new AbortController().signal).catch(
    (e: unknown) => e,
  )) as AgentbusError;
  t.match(err, { code: 'audio_format_unavailable', param: 'file', message: /ffmpeg.*apt-get install ffmpeg/ });
  const wav22k = wavOf(Buffer.alloc(100), 22_050);
  const again = (await recognize({ ...plan, format: 'wav' }, wav22k, new AbortController().signal).catch(
    (e: unknown) => e,
  )) as AgentbusError;
  t.equal(again.code, 'audio_format_unavailable', "espeak-ng's 22 kHz WAV needs converting too");
});
