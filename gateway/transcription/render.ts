import type { TranscriptionDone } from '../../bus-schemas/index.js';

/** OpenAI's `response_format` values for transcriptions. */
export const TRANSCRIPTION_RESPONSE_FORMATS = ['json', 'text', 'srt', 'verbose_json', 'vtt'] as const;
export type TranscriptionResponseFormat = (typeof TRANSCRIPTION_RESPONSE_FORMATS)[number];

/** Whisper's `language` in verbose_json is the language's English name. */
const LANGUAGE_NAMES: ReadonlyMap<string, string> = new Map([['en', 'english']]);

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
/** `hh:mm:ss<sep>mmm`: SRT separates milliseconds with a comma, WebVTT with a dot. */
function timestamp(seconds: number, separator: ',' | '.'): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

/** OpenAI bills audio by the second; `usage` says how many there were. */
const transcriptUsage = (done: TranscriptionDone) => ({ type: 'duration', seconds: Math.ceil(done.duration) });

/**
 * A transcript in the `response_format` the client asked for, with its Content-Type. pocketsphinx
 * has no tokens nor log-probabilities, so verbose_json's segments carry `id`, `start`, `end` and
 * `text` only (nothing is made up); `words` come when `timestamp_granularities` names `word`.
 */
export function renderTranscript(
  done: TranscriptionDone,
  format: TranscriptionResponseFormat,
  withWords: boolean,
  translated = false,
): { contentType: string; body: string | object } {
  switch (format) {
    case 'json':
      return {
        contentType: 'application/json; charset=utf-8',
        body: { text: done.text, usage: transcriptUsage(done) },
      };
    case 'text':
      return { contentType: 'text/plain; charset=utf-8', body: `${done.text}\n` };
    case 'verbose_json':
      return {
        contentType: 'application/json; charset=utf-8',
        body: {
          task: translated ? 'translate' : 'transcribe',
          language: LANGUAGE_NAMES.get(done.language) ?? done.language,
          duration: done.duration,
          text: done.text,
          segments: done.segments.map((s, id) => ({ id, start: s.start, end: s.end, text: s.text })),
          ...(withWords ? { words: done.words } : {}),
          usage: transcriptUsage(done),
        },
      };
    case 'srt':
      return {
        contentType: 'application/x-subrip; charset=utf-8',
        body: done.segments
          .map((s, i) => `${i + 1}\n${timestamp(s.start, ',')} --> ${timestamp(s.end, ',')}\n${s.text}\n\n`)
          .join(''),
      };
    case 'vtt':
      return {
        contentType: 'text/vtt; charset=utf-8',
        body:
          'WEBVTT\n\n' +
          done.segments.map((s) => `${timestamp(s.start, '.')} --> ${timestamp(s.end, '.')}\n${s.text}\n\n`).join(''),
      };
  }
}
