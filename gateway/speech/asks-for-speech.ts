/**
 * Phrases with which a user asks a voice agent for spoken output, in English and Bengali. Kept
 * as a short explicit list, matched case-insensitively anywhere in the last user message: a
 * request to a voice agent containing one is answered with audio (docs/api.md, "Voice in chat").
 */
export const SPEECH_PHRASES: readonly string[] = Object.freeze([
  'to speech',
  'text-to-speech',
  'text to speech',
  'read aloud',
  'read out loud',
  'read it aloud',
  'say it aloud',
  'speak this',
  'speak it',
  'টেক্সট-টু-স্পিচ', // text-to-speech
  'টেক্সট টু স্পিচ',
  'স্পিচে', // into speech
  'পড়ে শোনাও', // read aloud
  'উচ্চারণ করে শোনাও', // pronounce aloud
]);

/** True when `text` asks for speech (one of {@link SPEECH_PHRASES}). */
export function asksForSpeech(text: string): boolean {
  const lower = text.toLowerCase();
  return SPEECH_PHRASES.some((phrase) => lower.includes(phrase));
}
