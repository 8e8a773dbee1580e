const OPEN = '<think>';
const CLOSE = '</think>';

/** Text of one piece of a model's output, split into the answer and the thinking. */
export interface SplitText {
  content: string;
  reasoning: string;
}

/** The longest end of `text` that could be the start of `tag` (a tag cut between two chunks). */
function partialTagAt(text: string, tag: string): number {
  for (let length = Math.min(tag.length - 1, text.length); length > 0; length--) {
    if (tag.startsWith(text.slice(text.length - length))) return text.length - length;
  }
  return text.length;
}

/**
 * Splits `<think>…</think>` blocks out of a streamed answer, for models that write their thinking
 * into the text (deepseek-r1, qwen3 behind servers with no separate field): the thinking is
 * returned apart and never reaches `content` or memory. A tag cut between two chunks is held
 * back until the next one says what it is; the blank lines after a block are dropped.
 */
export class ThinkSplitter {
  #thinking = false;
  #held = '';
  #trimStart = false;

  push(chunk: string): SplitText {
    let text = this.#held + chunk;
    this.#held = '';
    const out: SplitText = { content: '', reasoning: '' };
    while (text !== '') {
      const tag = this.#thinking ? CLOSE : OPEN;
      const at = text.indexOf(tag);
      const end = at >= 0 ? at : partialTagAt(text, tag);
      this.#emit(out, text.slice(0, end));
      if (at < 0) {
        this.#held = text.slice(end);
        break;
      }
      text = text.slice(at + tag.length);
      this.#thinking = !this.#thinking;
      if (!this.#thinking) this.#trimStart = true;
    }
    return out;
  }

  /** What is still held back at the end of the answer (a `<thi` that never became a tag). */
  end(): SplitText {
    const out: SplitText = { content: '', reasoning: '' };
    this.#emit(out, this.#held);
    this.#held = '';
    return out;
  }

  #emit(out: SplitText, text: string): void {
    if (this.#thinking) {
      out.reasoning += text;
      return;
    }
    if (this.#trimStart) {
      text = text.replace(/^\s+/, '');
      if (text !== '') this.#trimStart = false;
    }
    out.content += text;
  }
}
