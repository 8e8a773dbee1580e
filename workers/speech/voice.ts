import { AgentbusError } from '../../bus-schemas/index.js';

/** OpenAI's voice names, each an espeak-ng variant (`+f3`: female 3, `+m3`: male 3, …). */
export const OPENAI_VOICES: Readonly<Record<string, string>> = Object.freeze({
  alloy: 'f3',
  ash: 'm2',
  ballad: 'm4',
  coral: 'f1',
  echo: 'm3',
  fable: 'm1',
  nova: 'f2',
  onyx: 'm7',
  sage: 'f4',
  shimmer: 'f5',
  verse: 'm5',
  marin: 'f2',
  cedar: 'm6',
});

const BENGALI = /[\u0980-\u09FF]/gu;
const LETTERS = /\p{L}/gu;

/**
 * The espeak-ng language of a text: Bengali (`bn`) when Bengali script makes up at least a
 * third of its letters, else English (`en-us`). The user never names the language.
 */
export function languageOf(text: string): 'bn' | 'en-us' {
  const letters = text.match(LETTERS)?.length ?? 0;
  const bengali = text.match(BENGALI)?.length ?? 0;
  return letters > 0 && bengali * 3 >= letters ? 'bn' : 'en-us';
}

/** The espeak-ng `-v` argument for an OpenAI voice and a text, e.g. `bn+f3`; 400 for an unknown voice. */
export function espeakVoice(voice: string, text: string): string {
  const name = voice.toLowerCase();
  // Own names only: `constructor` or `__proto__` would find Object.prototype's.
  const variant = Object.hasOwn(OPENAI_VOICES, name) ? OPENAI_VOICES[name] : undefined;
  if (variant === undefined)
    throw new AgentbusError(
      'invalid_request',
      `Unknown voice "${voice}". Voices: ${Object.keys(OPENAI_VOICES).join(', ')}.`,
      { param: 'voice' },
    );
  return `${languageOf(text)}+${variant}`;
}

/** espeak-ng's default rate, in words per minute, and the range it accepts. */
const BASE_WPM = 175;
const MIN_WPM = 80;
const MAX_WPM = 450;

/** The `-s` argument for OpenAI's `speed` (0.25–4, 1 normal), clamped to what espeak-ng accepts. */
export function wordsPerMinute(speed: number): number {
  return Math.min(MAX_WPM, Math.max(MIN_WPM, Math.round(BASE_WPM * speed)));
}
