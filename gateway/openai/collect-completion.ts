import { AgentbusError, errorFromWire } from '../../bus-schemas/index.js';
import type { AgentCall } from '../bus/agent-call.js';
import { chatCompletion, type CompletionIdentity } from './responses.js';

/** Waits for the whole answer and returns it as one `chat.completion`, or throws its error. */
export async function collectCompletion(call: AgentCall, identity: CompletionIdentity) {
  let content = '';
  for await (const frame of call) {
    if (frame.type === 'delta') content += frame.content;
    else if (frame.type === 'error') throw errorFromWire(frame.error);
    else if (frame.type === 'done') return chatCompletion(identity, content, frame);
  }
  throw new AgentbusError('stream_protocol_error', 'The reply ended without a terminal frame.');
}
