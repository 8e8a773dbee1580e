import t from 'tap';
import { wordEdits, wordErrorRate, wordsOf } from '../helpers/word-error-rate.js';

// The word error rate the transcription quality test reports: word-level Levenshtein distance
// over the reference's words, summed over utterances.
t.test('words are compared in lower case, without punctuation', async (t) => {
  t.same(wordsOf("Go forward, ten  Meters! It's"), ['go', 'forward', 'ten', 'meters', "it's"]);
  t.same(wordsOf('  '), []);
});

t.test('edits: substitutions, deletions and insertions count one each', async (t) => {
  const ref = wordsOf('go forward ten meters');
  t.equal(wordEdits(ref, ref), 0);
  t.equal(wordEdits(ref, wordsOf('go forward two meters')), 1, 'a substitution');
  t.equal(wordEdits(ref, wordsOf('go ten meters')), 1, 'a deletion');
  t.equal(wordEdits(ref, wordsOf('go go forward ten meters')), 1, 'an insertion');
  t.equal(wordEdits(ref, []), 4, 'nothing heard: every word deleted');
  t.equal(wordEdits([], wordsOf('noise')), 1);
  t.equal(wordEdits(wordsOf('a b c d'), wordsOf('b c d e')), 2, 'a shift costs a deletion and an insertion');
});

t.test('the rate is all edits over all reference words', async (t) => {
  t.equal(wordErrorRate([{ reference: 'go forward ten meters', hypothesis: 'go forward ten meters' }]), 0);
  t.equal(
    wordErrorRate([
      { reference: 'he was not an ill disposed young man', hypothesis: 'he was not an illness those young man' },
      { reference: 'go forward ten meters', hypothesis: 'go forward' },
    ]),
    (2 + 2) / 12,
    'two substitutions, then two deletions, over 8 + 4 words',
  );
  t.equal(wordErrorRate([]), 0);
});
