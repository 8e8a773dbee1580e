/** One utterance pocketsphinx heard, and its words with their times in seconds. */
export interface Heard {
  segments: Array<{ start: number; end: number; text: string }>;
  words: Array<{ word: string; start: number; end: number }>;
}

// `word start end confidence`, as `-time yes` prints each word of an utterance.
const WORD_LINE = /^(\S+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?(?:e-?\d+)?)$/;
// Silence, sentence marks and noise: times, not words.
const FILLER = /^(<s>|<\/s>|<sil>|\[[A-Z_]+\]|\+\+.*\+\+)$/;

/**
 * Reads `pocketsphinx_continuous -time yes`: for each utterance a line with its text, then one
 * line per word (fillers included) with start and end in seconds from the start of the audio.
 * Alternate pronunciations (`was(2)`) are the same word.
 */
export function parsePocketsphinxOutput(output: string): Heard {
  const heard: Heard = { segments: [], words: [] };
  let current: { text: string; words: Heard['words'] } | undefined;
  const close = () => {
    if (current && current.words.length > 0)
      heard.segments.push({
        start: current.words[0]!.start,
        end: current.words.at(-1)!.end,
        text: current.words.map((w) => w.word).join(' '),
      });
    current = undefined;
  };
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    const word = WORD_LINE.exec(line);
    if (!word) {
      close();
      if (line) current = { text: line, words: [] };
      continue;
    }
    if (FILLER.test(word[1]!)) continue;
    current ??= { text: '', words: [] };
    const entry = { word: word[1]!.replace(/\(\d+\)$/, ''), start: Number(word[2]), end: Number(word[3]) };
    current.words.push(entry);
    heard.words.push(entry);
  }
  close();
  return heard;
}
