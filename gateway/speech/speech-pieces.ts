import { AgentbusError, SPEECH_MAX_INPUT_CHARS, type SpeechFormat } from '../../bus-schemas/index.js';
import type { SpeechResult } from './start-speech.js';

/**
 * Formats whose files join end to end: raw PCM, MP3 and ADTS (AAC) frames as they are (each frame
 * carries its own header), a WAV without the later headers.
 */
export const JOINABLE_FORMATS: ReadonlySet<SpeechFormat> = new Set<SpeechFormat>(['wav', 'pcm', 'mp3', 'aac']);

// Where a piece may end, best first: after a sentence (English or Bengali), else after a space.
const SENTENCE_END = /[.!?।\n][\s"')\]]*/g;

/** Where to cut `window`: after its last sentence end, else at its last space, else its length. */
function cutAt(window: string): number {
  let cut = 0;
  for (const match of window.matchAll(SENTENCE_END))
    if (match.index + match[0].length < window.length) cut = match.index + match[0].length;
  if (cut === 0) cut = window.lastIndexOf(' ') + 1;
  if (cut === 0) {
    cut = window.length;
    // Never between the two halves of a surrogate pair.
    const last = window.charCodeAt(cut - 1);
    if (last >= 0xd800 && last <= 0xdbff) cut -= 1;
  }
  return cut;
}

/**
 * A text cut into pieces one speech request may carry (`max` characters), at sentence ends where
 * it can: joined, they are the text. Pieces of whitespace only are left out (nothing to say).
 */
export function speechPieces(text: string, max: number = SPEECH_MAX_INPUT_CHARS): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const cut = cutAt(rest.slice(0, max));
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  pieces.push(rest);
  const said = pieces.filter((piece) => piece.trim() !== '');
  return said.length > 0 ? said : [text];
}

const isWavHeader = (chunk: Buffer) =>
  chunk.length >= 44 &&
  chunk.toString('latin1', 0, 4) === 'RIFF' &&
  chunk.toString('latin1', 8, 12) === 'WAVE' &&
  chunk.toString('latin1', 36, 40) === 'data';

/**
 * Several speech requests heard as one: `first` and then, each once the one before ended, the
 * speech of every text in `rest` (`start` sends it). Their audio joins end to end; a later WAV's
 * 44-byte header is dropped (all are espeak-ng's 22 050 Hz mono).
 */
export function joinedSpeech(
  first: SpeechResult,
  rest: readonly string[],
  start: (text: string) => Promise<SpeechResult>,
): SpeechResult {
  const joining: Joining = { current: first, bytes: 0, settled: false };
  return {
    ...first,
    audio: joinedAudio(first, rest, start, joining),
    finish: (outcome) => settle(joining, { ...outcome, bytes: joining.bytes }),
  };
}

/** The piece being spoken, its bytes so far, and whether its trace line was written. */
interface Joining {
  current: SpeechResult;
  bytes: number;
  settled: boolean;
}

/** Each piece's trace line once: when it ends, or by `finish` when the answer stops in it. */
async function settle(joining: Joining, outcome: { bytes: number; error?: unknown }): Promise<void> {
  if (joining.settled) return;
  joining.settled = true;
  await joining.current.finish(outcome);
}

/** The pieces' audio end to end (module level: see call/call.ts's callFrames). */
async function* joinedAudio(
  first: SpeechResult,
  rest: readonly string[],
  start: (text: string) => Promise<SpeechResult>,
  joining: Joining,
): AsyncGenerator<Buffer> {
  for (let index = 0; ; index++) {
    joining.bytes = 0;
    let opening = index > 0 && first.start.format === 'wav';
    for await (const chunk of joining.current.audio) {
      joining.bytes += chunk.length;
      if (opening && !isWavHeader(chunk))
        throw new AgentbusError('stream_protocol_error', 'a later piece of a spoken answer is not a plain WAV');
      const part = opening ? chunk.subarray(44) : chunk;
      opening = false;
      if (part.length > 0) yield part;
    }
    await settle(joining, { bytes: joining.bytes });
    const next = rest[index];
    if (next === undefined) return;
    joining.current = await start(next);
    joining.settled = false;
  }
}
