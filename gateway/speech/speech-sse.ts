import { AgentbusError } from '../../bus-schemas/index.js';
import { inWholeBase64Pieces } from './whole-base64-pieces.js';
import { estimatedTokens } from '../../common/estimated-tokens.js';

const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;

/**
 * OpenAI's speech event stream (`stream_format: "sse"`): a `speech.audio.delta` per chunk, its
 * bytes in base64 (whole 3-byte groups, so the deltas joined decode as one file), then
 * `speech.audio.done` with usage (OpenAI counts tokens; espeak-ng has none, so input tokens are
 * estimated at four characters each and output tokens are 0). A failure ends the stream with
 * `event: error` in OpenAI's error shape, as on the chat route, and is rethrown for the trace log.
 */
export async function* speechEvents(
  audio: AsyncIterable<Buffer>,
  inputChars: number,
  onChunk: (bytes: number) => void,
): AsyncGenerator<string> {
  try {
    for await (const chunk of inWholeBase64Pieces(audio)) {
      onChunk(chunk.length);
      yield data({ type: 'speech.audio.delta', audio: chunk.toString('base64') });
    }
  } catch (err) {
    const error =
      err instanceof AgentbusError ? err : new AgentbusError('internal_error', 'speech failed', { cause: err });
    yield `event: error\n${data(error.toOpenAI())}`;
    throw err;
  }
  const inputTokens = estimatedTokens(inputChars);
  yield data({
    type: 'speech.audio.done',
    usage: { input_tokens: inputTokens, output_tokens: 0, total_tokens: inputTokens },
  });
}
