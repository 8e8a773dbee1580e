/** Lower case, letters, digits and apostrophes only: what a transcript and its reference are compared on. */
export function wordsOf(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}' ]+/gu, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** The fewest substitutions, deletions and insertions that turn `hypothesis` into `reference` (word Levenshtein). */
export function wordEdits(reference: readonly string[], hypothesis: readonly string[]): number {
  let previous = Array.from({ length: hypothesis.length + 1 }, (_, j) => j);
  for (let i = 1; i <= reference.length; i++) {
    const current = [i];
    for (let j = 1; j <= hypothesis.length; j++) {
      const substitution = previous[j - 1]! + (reference[i - 1] === hypothesis[j - 1] ? 0 : 1);
      current.push(Math.min(substitution, previous[j]! + 1, current[j - 1]! + 1));
    }
    previous = current;
  }
  return previous[hypothesis.length]!;
}

/**
 * Word error rate over several utterances: all their edits over all their reference words (the
 * usual corpus-level figure, so a short clip weighs no more than its words).
 */
export function wordErrorRate(pairs: ReadonlyArray<{ reference: string; hypothesis: string }>): number {
  let edits = 0;
  let words = 0;
  for (const { reference, hypothesis } of pairs) {
    const ref = wordsOf(reference);
    edits += wordEdits(ref, wordsOf(hypothesis));
    words += ref.length;
  }
  return words === 0 ? 0 : edits / words;
}
