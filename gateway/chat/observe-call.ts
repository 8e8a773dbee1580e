import { AgentbusError, errorFromWire } from '../../bus-schemas/index.js';
import { withFrames, type AgentCall } from '../bus/agent-call.js';

/** How one call ended, as the trace log and the metrics record it. */
export interface CallSummary {
  /** The agent asked (a catalog fallback that answered instead still counts for it). */
  agent: string;
  conversationId: string;
  cached: boolean;
  /** Characters of the answer: text plus tool-call arguments. */
  responseChars: number;
  /** 200, the error's HTTP status, or 499 when the client left first. */
  status: number;
  errorCode?: string;
  /** From the call's start to its end, in ms. */
  durationMs: number;
  /**
   * From the call's start to its first token, in ms: the first delta, or on a non-streamed
   * request the heartbeat that announces generation (its tokens travel only at the end).
   * Absent when no token came.
   */
  firstTokenMs?: number;
  /** Token counts of the `done` frame; absent when the call did not finish. */
  usage?: { promptTokens: number; completionTokens: number };
}

/** Hears every observed call of the process (the gateway's metrics). */
export interface CallListener {
  opened(agent: string): void;
  ended(summary: CallSummary): void;
}

const listeners = new Set<CallListener>();

/**
 * Adds a listener to every call {@link observeCall} wraps from now on; returns its removal.
 * Process-wide, because the call sites know the agent but not the app: a process running
 * several gateways (some tests) has each of them hear the others' calls.
 */
export function listenToCalls(listener: CallListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// A listener's bug must never break a client's answer.
function tell(notify: (listener: CallListener) => void): void {
  for (const listener of listeners) {
    try {
      notify(listener);
    } catch {
      // metrics are best effort
    }
  }
}

/**
 * Wraps a call so that, whatever way its consumer finishes (done, error, client gone, or an
 * early `return`), `onEnd` hears once how it ended. The frames pass through untouched.
 * `agent` names the agent asked; without it, the one named by the `done` frame (or "unknown").
 */
export function observeCall(
  call: AgentCall,
  sessionId: string,
  onEnd: (summary: CallSummary) => void,
  agent?: string,
): AgentCall {
  const started = Date.now();
  const summary: CallSummary = {
    agent: agent ?? 'unknown',
    conversationId: sessionId,
    cached: false,
    responseChars: 0,
    status: 0,
    durationMs: 0,
  };
  const fail = (error: AgentbusError) => {
    summary.status = error.status;
    summary.errorCode = error.code;
  };
  const firstToken = () => {
    summary.firstTokenMs ??= Date.now() - started;
  };
  return withFrames(call, async function* () {
    // Counted as open only once read: a call nobody iterates never ends either.
    tell((listener) => listener.opened(summary.agent));
    try {
      for await (const frame of call) {
        if (frame.type === 'ack') {
          summary.conversationId = frame.conversation_id;
          summary.cached = frame.cached === true;
        } else if (frame.type === 'delta') {
          firstToken();
          summary.responseChars += frame.content?.length ?? 0;
          for (const fragment of frame.tool_calls ?? []) summary.responseChars += fragment.function.arguments.length;
        } else if (frame.type === 'heartbeat') {
          if (frame.generating) firstToken();
        } else if (frame.type === 'done') {
          summary.status = 200;
          summary.cached ||= frame.meta.cached;
          if (agent === undefined) summary.agent = frame.meta.agent;
          summary.usage = { promptTokens: frame.usage.prompt_tokens, completionTokens: frame.usage.completion_tokens };
        } else if (frame.type === 'error') fail(errorFromWire(frame.error));
        yield frame;
      }
    } catch (err) {
      fail(err instanceof AgentbusError ? err : new AgentbusError('internal_error', String(err)));
      throw err;
    } finally {
      if (summary.status === 0)
        fail(
          call.closedByClient
            ? new AgentbusError('request_cancelled', 'client left')
            : new AgentbusError('stream_protocol_error', 'no terminal frame'),
        );
      summary.durationMs = Date.now() - started;
      try {
        onEnd(summary);
      } finally {
        tell((listener) => listener.ended(summary));
      }
    }
  });
}
