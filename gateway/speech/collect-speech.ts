import type { SpeechCall } from './speech-call.js';
import { withWavSizes } from './wav-sizes.js';

/** The whole audio of a speech call, for an answer with a Content-Length (or in one JSON field). */
export async function collectSpeech(call: SpeechCall): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of call.audio) chunks.push(chunk);
  const audio = Buffer.concat(chunks);
  return call.start.format === 'wav' ? withWavSizes(audio) : audio;
}
