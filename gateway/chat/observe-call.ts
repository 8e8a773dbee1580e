import { AgentbusError, errorFromWire } from '../../bus-schemas/index.js';
import type { AgentCall } from '../bus/agent-call.js';

/** How one call ended, as the trace log records it. */
export interface CallSummary {
  conversationId: string;
  cached: boolean;
  /** Characters of the answer: text plus tool-call arguments. */
  responseChars: number;
  /** 200, the error's HTTP status, or 499 when the client left first. */
  status: number;
  errorCode?: string;
}

/**
 * Wraps a call so that, whatever way its consumer finishes (done, error, client gone, or an
 * early `return`), `onEnd` hears once how it ended. The frames pass through untouched.
 */
export function observeCall(call: AgentCall, sessionId: string, onEnd: (summary: CallSummary) => void): AgentCall {
  const summary: CallSummary = { conversationId: sessionId, cached: false, responseChars: 0, status: 0 };
  const fail = (error: AgentbusError) => {
    summary.status = error.status;
    summary.errorCode = error.code;
  };
  return {
    close: (reason) => call.close(reason),
    cancel: (reason, graceMs) => call.cancel(reason, graceMs),
    get closedByClient() {
      return call.closedByClient;
    },
    async *[Symbol.asyncIterator]() {
      try {
        for await (const frame of call) {
          if (frame.type === 'ack') {
            summary.conversationId = frame.conversation_id;
            summary.cached = frame.cached === true;
          } else if (frame.type === 'delta') {
            summary.responseChars += frame.content?.length ?? 0;
            for (const fragment of frame.tool_calls ?? []) summary.responseChars += fragment.function.arguments.length;
          } else if (frame.type === 'done') summary.status = 200;
          else if (frame.type === 'error') fail(errorFromWire(frame.error));
          yield frame;
        }
      } catch (err) {
        fail(err instanceof AgentbusError ? err : new AgentbusError('internal_error', String(err)));
        throw err;
      } finally {
        if (summary.status === 0) fail(call.closedByClient ? new AgentbusError('request_cancelled', 'client left') : new AgentbusError('stream_protocol_error', 'no terminal frame'));
        onEnd(summary);
      }
    },
  };
}
