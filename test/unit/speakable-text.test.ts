import t from 'tap';
import { speakableText } from '../../workers/speech/speakable-text.js';

t.test('control characters become spaces; line breaks, tabs and all other text stay', async (t) => {
  t.equal(speakableText('hello\u0000 world'), 'hello  world', 'espeak-ng stopped reading at the NUL');
  t.equal(speakableText('\u0000\u0001 hi\u007f'), '   hi ');
  t.equal(speakableText('one\ttwo\nthree\r\nবাংলা ✓'), 'one\ttwo\nthree\r\nবাংলা ✓');
});
