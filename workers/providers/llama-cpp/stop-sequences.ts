/**
 * The client's `stop` sequences over an answer's text, as OpenAI applies them: the text ends
 * before the first one that appears, which is left out. The end of the text so far that could
 * still become a stop sequence is held back until the next text decides; when the answer ends
 * without one (a token limit), what was held back goes out as it is. node-llama-cpp's own stop
 * triggers dropped that held-back text on a length cut.
 */
export class StopSequences {
  readonly #stops: readonly string[];
  #held = '';
  #stopped = false;

  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((stop) => stop !== '');
  }

  /** True once a stop sequence appeared: the answer ends there. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The text that may go out now, given the next `text` of the answer ('' once stopped). */
  push(text: string): string {
    if (this.#stopped) return '';
    const all = this.#held + text;
    let cut = -1;
    for (const stop of this.#stops) {
      const at = all.indexOf(stop);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.#stopped = true;
      this.#held = '';
      return all.slice(0, cut);
    }
    const hold = this.#longestStartAtEnd(all);
    this.#held = all.slice(all.length - hold);
    return all.slice(0, all.length - hold);
  }

  /** What was held back, once the answer ended without a stop sequence. */
  flush(): string {
    const held = this.#held;
    this.#held = '';
    return held;
  }

  /** The length of the longest end of `text` that is the start of a stop sequence. */
  #longestStartAtEnd(text: string): number {
    let longest = 0;
    for (const stop of this.#stops) {
      for (let length = Math.min(stop.length - 1, text.length); length > longest; length--) {
        if (text.endsWith(stop.slice(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}
