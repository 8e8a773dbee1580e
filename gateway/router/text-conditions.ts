/**
 * The tests a routing rule applies to text. Each returns a short reason when it holds (never
 * more than {@link MAX_QUOTE} characters of the user's text, which may be private) or undefined.
 */

/** At most this much of the user's text is quoted in a reason. */
export const MAX_QUOTE = 40;

// Letters, combining marks (Bengali vowel signs are marks) and digits: what a word is made of.
const WORD_CHAR = '[\\p{L}\\p{M}\\p{N}_]';

/** `text` cut to {@link MAX_QUOTE} characters, whitespace runs folded, lower-cased. */
export function quote(text: string): string {
  const folded = text.replace(/\s+/g, ' ').trim().toLowerCase();
  return folded.length > MAX_QUOTE ? `${folded.slice(0, MAX_QUOTE - 1)}…` : folded;
}

function keywordPattern(keyword: string): string {
  return (
    keyword
      .trim()
      // Only syntax characters: the "u" flag refuses escapes of anything else (such as "-").
      .replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
      .replace(/\s+/g, '\\s+')
      // Phones and editors turn ' into ’; both should match.
      .replace(/['’]/g, "['’]")
  );
}

/**
 * One regex for all of a rule's keywords: whole words only, so "ci" does not match "circle",
 * but a keyword may start or end with punctuation ("c++", "ci/cd").
 */
export function compileKeywords(keywords: readonly string[]): RegExp {
  const alternatives = keywords.map(keywordPattern).join('|');
  return new RegExp(`(?<!${WORD_CHAR})(?:${alternatives})(?!${WORD_CHAR})`, 'iu');
}

export function matchKeywords(regex: RegExp, text: string): string | undefined {
  const found = regex.exec(text);
  return found ? `keyword "${quote(found[0])}"` : undefined;
}

export function matchRegex(regexes: readonly RegExp[], text: string): string | undefined {
  for (const regex of regexes) {
    const found = regex.exec(text);
    if (found) return `regex matched "${quote(found[0])}"`;
  }
  return undefined;
}

/** Compiles a script name to a counting regex; throws a SyntaxError for a script Unicode does not know. */
export function compileScript(script: string): RegExp {
  return new RegExp(`\\p{Script=${script}}`, 'gu');
}

export function matchScript(regex: RegExp, script: string, minChars: number, text: string): string | undefined {
  const count = text.match(regex)?.length ?? 0;
  return count >= minChars ? `${count} ${script} character${count === 1 ? '' : 's'}` : undefined;
}

// A fence anywhere (pasted code often arrives without line breaks), or a ~~~ fence opening a line.
const FENCE = /```|^[ \t]{0,3}~~~/m;
// Indented by 4 spaces or a tab, as Markdown's indented code; nested list items are not code.
const INDENTED = /^(?: {4}|\t)[ \t]*(?![-*+]\s|\d+[.)]\s)\S/;
// Ends like a statement or block opener, assigns, or opens with a keyword most languages share.
const CODE_LIKE =
  /[;{}():,\]]\s*$|\s=\s|^\s*(?:def|class|function|fn|func|return|import|from|const|let|var|if|for|while|public|private|package|#include)\b/;

/**
 * A fenced block, or at least two consecutive indented lines of which one looks like code.
 * Deliberately simple: a false positive routes to the code agents, which is a mild mistake.
 */
export function matchCodeBlock(text: string): string | undefined {
  if (FENCE.test(text)) return 'contains a fenced code block';
  let run = 0;
  let codeLike = false;
  for (const line of text.split('\n')) {
    if (INDENTED.test(line)) {
      run++;
      codeLike ||= CODE_LIKE.test(line);
      if (run >= 2 && codeLike) return 'contains an indented code block';
    } else if (line.trim() !== '') {
      run = 0;
      codeLike = false;
    }
  }
  return undefined;
}
