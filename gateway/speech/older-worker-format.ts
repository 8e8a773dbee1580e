import { AgentbusError, type SpeechFormat } from '../../bus-schemas/index.js';

/**
 * A worker's schema refusal of `format` the gateway's own schema accepted: a worker of an older
 * version (a rolling upgrade) that lacks the format. Said as the client's `response_format` being
 * unavailable there, not as a bad bus envelope; any other error is returned as it is.
 */
export function olderWorkerFormat(err: unknown, format: SpeechFormat): unknown {
  if (!(err instanceof AgentbusError) || err.code !== 'invalid_envelope' || err.param !== 'format') return err;
  return new AgentbusError(
    'audio_format_unavailable',
    `The audio format "${format}" is not known to the worker that took the request, an older version ` +
      `(${err.message}): upgrade the workers of this voice agent, or ask for another format.`,
    { param: 'response_format', cause: err },
  );
}
