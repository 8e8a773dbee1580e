import type { TranscriptionDone } from '../../bus-schemas/index.js';

const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;

/**
 * OpenAI's transcription event stream (`stream: true`, as gpt-4o-transcribe answers it): the
 * text in `transcript.text.delta` events, then `transcript.text.done` with the whole text.
 * pocketsphinx hears a file whole, so the text comes in one delta, once it was heard. No `usage`:
 * OpenAI's event carries tokens only (a typed SDK would refuse the seconds the JSON answer bills).
 */
export function transcriptEvents(done: TranscriptionDone): string {
  const delta = done.text === '' ? '' : data({ type: 'transcript.text.delta', delta: done.text });
  return delta + data({ type: 'transcript.text.done', text: done.text });
}
