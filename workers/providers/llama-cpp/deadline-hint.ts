import { AgentbusError } from '../../../bus-schemas/index.js';

/** What the provider knows of a generation its request's signal stopped. */
export interface StoppedGeneration {
  /** Tokens the model had written when it was stopped. */
  generated: number;
  /** The request's own `max_tokens`, when it set one. */
  requested: number | undefined;
  /** LLAMA_CPP_MAX_TOKENS (0: no cap). */
  defaultMaxTokens: number;
}

/**
 * The error for a generation its request's signal stopped: the signal's reason — at the
 * deadline, while the model was still writing, with what to set so the answer ends in time. A
 * model that never writes its end-of-turn token runs until `max_tokens`, however slow that is,
 * and the generic timeout message would send the user after REQUEST_TIMEOUT_MS instead.
 */
export function explainStop(reason: unknown, stopped: StoppedGeneration): unknown {
  if (!(reason instanceof AgentbusError) || reason.code !== 'deadline_exceeded' || stopped.generated === 0)
    return reason;
  const fix =
    stopped.requested !== undefined
      ? `send a smaller max_tokens than ${stopped.requested}`
      : stopped.defaultMaxTokens > 0
        ? `send max_tokens or lower LLAMA_CPP_MAX_TOKENS (now ${stopped.defaultMaxTokens})`
        : 'send max_tokens or set LLAMA_CPP_MAX_TOKENS';
  return new AgentbusError(
    'deadline_exceeded',
    `${reason.message} llama.cpp was still writing after ${stopped.generated} tokens, ` +
      `without stopping on its own: ${fix}.`,
    { cause: reason },
  );
}
