import {
  AgentbusError,
  errorFromWire,
  type DoneFrame,
  type ReplyFrame,
  type ToolCall,
} from '../../bus-schemas/index.js';

/** A whole answer as the gateway collected it from the frames. */
export interface CollectedAnswer {
  content: string;
  /** The model's thinking, apart from the answer ('' when it reported none). */
  reasoning: string;
  /** The model's refusal, apart from the text ('' when it did not refuse, or the route took it as text). */
  refusal: string;
  toolCalls: ToolCall[];
  done: DoneFrame;
}

/**
 * Waits for the whole answer: text, and tool calls put back together from their fragments
 * (the first fragment of a call carries its id and name, later ones add to `arguments`).
 * Throws the answer's error, or `stream_protocol_error` for fragments that make no sense.
 */
export async function collectAnswer(frames: AsyncIterable<ReplyFrame>): Promise<CollectedAnswer> {
  let content = '';
  let reasoning = '';
  let refusal = '';
  const toolCalls: ToolCall[] = [];
  for await (const frame of frames) {
    if (frame.type === 'delta') {
      if (frame.content !== undefined) content += frame.content;
      if (frame.reasoning !== undefined) reasoning += frame.reasoning;
      if (frame.refusal !== undefined) refusal += frame.refusal;
      for (const fragment of frame.tool_calls ?? []) {
        const known = toolCalls[fragment.index];
        if (known) known.function.arguments += fragment.function.arguments;
        else if (fragment.index === toolCalls.length && fragment.id && fragment.function.name) {
          toolCalls.push({
            id: fragment.id,
            type: 'function',
            function: { name: fragment.function.name, arguments: fragment.function.arguments },
          });
        } else {
          throw new AgentbusError(
            'stream_protocol_error',
            `The worker sent a fragment of tool call ${fragment.index} before its first fragment.`,
          );
        }
      }
    } else if (frame.type === 'error') throw errorFromWire(frame.error);
    else if (frame.type === 'done') return { content, reasoning, refusal, toolCalls, done: frame };
  }
  throw new AgentbusError('stream_protocol_error', 'The reply ended without a terminal frame.');
}
