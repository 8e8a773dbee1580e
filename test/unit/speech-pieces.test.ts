import t from 'tap';
import { JOINABLE_FORMATS, joinedSpeech, speechPieces } from '../../gateway/speech/speech-pieces.js';
import type { SpeechResult } from '../../gateway/speech/start-speech.js';

t.test('a long text is cut at sentence ends, then spaces, never mid-character; joined it is the text', async (t) => {
  const text = 'One two three. Four five six! Seven eight nine? Ten.';
  t.same(speechPieces(text, 100), [text], 'short enough: one piece');
  const pieces = speechPieces(text, 20);
  t.same(pieces, ['One two three. ', 'Four five six! ', 'Seven eight nine? ', 'Ten.']);
  t.same(speechPieces('aaaa bbbb cccc dddd', 10), ['aaaa bbbb ', 'cccc dddd']);
  const bengali = 'আমি বাংলায় কথা বলি। আবার বলি। শেষ।';
  t.equal(speechPieces(bengali, 25).join(''), bengali);
  t.equal(speechPieces(bengali, 25)[0], 'আমি বাংলায় কথা বলি। ', 'the Bengali full stop ends a sentence');
  const emoji = '😀'.repeat(10);
  const cut = speechPieces(emoji, 5);
  t.equal(cut.join(''), emoji);
  t.ok(
    cut.every((piece) => piece.length <= 5 && !/[\uD800-\uDBFF]$/.test(piece)),
    'no half surrogate pair',
  );
  t.same(speechPieces('word.   \n\n   ', 8), ['word.   '], 'a piece of whitespace only is not said');
});

/** A speech result over fixed chunks, recording how it was finished. */
function fake(chunks: Buffer[], format: 'wav' | 'pcm', finished: Array<{ bytes: number; error?: unknown }>) {
  return {
    start: {
      type: 'start',
      seq: 0,
      request_id: 'speech-x',
      voice: 'en-us+f3',
      format,
      content_type: 'x',
      provider: 'p',
      worker: 'w',
    },
    audio: (async function* () {
      for (const chunk of chunks) yield chunk;
    })(),
    agent: {} as SpeechResult['agent'],
    headers: {},
    finish: async (outcome: { bytes: number; error?: unknown }) => void finished.push(outcome),
  } as SpeechResult;
}

const wav = (body: string) => {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.write('WAVE', 8, 'latin1');
  header.write('data', 36, 'latin1');
  return Buffer.concat([header, Buffer.from(body)]);
};

t.test('joined pieces: one WAV header, every piece started after the one before and finished', async (t) => {
  const finished: Array<{ bytes: number; error?: unknown }> = [];
  const started: string[] = [];
  const joined = joinedSpeech(fake([wav('aa'), Buffer.from('bb')], 'wav', finished), ['second', 'third'], (text) => {
    started.push(text);
    return Promise.resolve(fake([wav(text)], 'wav', finished));
  });
  const out: Buffer[] = [];
  for await (const chunk of joined.audio) out.push(chunk);
  const all = Buffer.concat(out);
  t.equal(all.subarray(44).toString(), 'aabbsecondthird');
  t.same(started, ['second', 'third']);
  t.same(
    finished.map((f) => f.bytes),
    [48, 50, 49],
  );
  await joined.finish({ bytes: all.length });
  t.equal(finished.length, 3, 'finishing after the end changes nothing');
});

t.test('a later piece that is not a plain WAV is a protocol error', async (t) => {
  const joined = joinedSpeech(fake([wav('a')], 'wav', []), ['b'], () =>
    Promise.resolve(fake([Buffer.from('not a wav at all, not a wav at all, not a wav!')], 'wav', [])),
  );
  await t.rejects(
    (async () => {
      for await (const _ of joined.audio);
    })(),
    { code: 'stream_protocol_error', message: /not a plain WAV/ },
  );
});

t.test('formats of self-framed audio join end to end (ADTS aac as mp3); flac and opus have one header', async (t) => {
  t.same([...JOINABLE_FORMATS].sort(), ['aac', 'mp3', 'pcm', 'wav']);
});
