import { randomBytes } from 'node:crypto';
import { AgentbusError, PROTOCOL_VERSION, type SpeechFormat, type SpeechRequest } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import { admit } from '../chat/admit.js';
import { refundIfRefused } from '../http/admit-before-body.js';
import type { CallOrigin, ChatDeps } from '../chat/types.js';
import { traceIdOf } from '../trace-log/trace-log.js';
import { callSpeech, type SpeechCall } from './speech-call.js';
import { olderWorkerFormat } from './older-worker-format.js';
import { voiceAgent } from '../audio/voice-agent.js';
import { traceparentFor } from '../chat/traceparent.js';
import { clientLimitMs } from '../chat/client-limit.js';

/** What a client asks for: OpenAI's fields, defaults applied. */
export interface SpeechInput {
  model: string;
  input: string;
  voice: string;
  format: SpeechFormat;
  speed: number;
  /** Sent as it comes (`stream_format`, or the speech of a streamed chat), not as one file. */
  streamed: boolean;
}

/** The audio under way, who makes it, the headers every answer sends, and `finish` for the trace log. */
export interface SpeechResult extends SpeechCall {
  agent: Agent;
  headers: Record<string, string>;
  /** Call once the audio was written (or not): frees the rate limit slot and writes the trace line. */
  finish(outcome: { bytes: number; error?: unknown }): Promise<void>;
}

/**
 * A speech request: the named voice agent (scope, alias), the key's rate limits, one request over
 * the bus to a worker of the agent's queue group (a copy to the audit stream when AUDIT=on), and
 * a trace log line when it ends. Nothing is stored. `signal` aborts when the client leaves, which
 * cancels the synthesis on the worker.
 */
export async function startSpeech(
  deps: ChatDeps,
  input: SpeechInput,
  origin: CallOrigin,
  signal: AbortSignal,
): Promise<SpeechResult> {
  const { caller, hints } = origin;
  const agent = await refundIfRefused(origin.admission, () =>
    voiceAgent(deps.catalog, 'speech', input.model, origin.pathAgent, caller),
  );
  const now = Date.now();
  const requestId = `speech-${randomBytes(18).toString('base64url')}`;
  const traceparent = traceparentFor(origin.traceparent);
  const totalMs = agent.timeouts.totalMs ?? deps.config.requestTimeoutMs;
  // As for chat: a secret in the text keeps it on local engines when SECRETS_MAKE_PRIVATE is on.
  const secretsFound = deps.config.secretsMakePrivate ? deps.redactor.detect(input.input) : [];
  const isPrivate = hints.private || caller.private || secretsFound.length > 0;
  const admission = origin.admission ?? (await admit(deps, caller, 0, totalMs));
  const callHeaders = { 'x-request-id': requestId, traceparent, ...admission.headers };
  origin.announce?.(callHeaders);
  const envelope: SpeechRequest = {
    v: PROTOCOL_VERSION,
    request_id: requestId,
    intent: agent.name,
    model: input.model,
    input: input.input,
    voice: input.voice,
    format: input.format,
    speed: input.speed,
    ...(isPrivate ? { private: true } : {}),
    tenant: caller.tenant,
    timeout_ms: Math.min(totalMs, clientLimitMs(hints, input.streamed) ?? totalMs),
    traceparent,
    created_at: now,
  };
  const spoken: { voice?: string; provider?: string } = {};
  let finished = false;
  const finish = async ({ bytes, error }: { bytes: number; error?: unknown }) => {
    if (finished) return;
    finished = true;
    await admission.release();
    deps.traceLog.record({
      ts: new Date(now).toISOString(),
      trace_id: traceIdOf(traceparent),
      request_id: requestId,
      session: null,
      agent: agent.name,
      // The engine and its voice, e.g. `espeak-ng:bn+f3` or `openai:alloy`.
      model: spoken.voice ? `${spoken.provider}:${spoken.voice}` : agent.name,
      prompt: deps.redactor.redact(input.input),
      response_len: bytes,
      cached: false,
      status: error === undefined ? 200 : error instanceof AgentbusError ? error.status : 500,
      ...(error === undefined ? {} : { error: error instanceof AgentbusError ? error.code : 'internal_error' }),
      duration_ms: Date.now() - now,
    });
  };
  let call: SpeechCall;
  try {
    call = await callSpeech(deps.bus, deps.subjects, envelope, signal, {
      auditSubject: deps.config.audit.enabled ? deps.subjects.auditSpeech(agent.name) : undefined,
      onRetry: (failure) =>
        origin.log.warn(
          { code: failure.code, agent: agent.name },
          `speech of ${agent.name} failed before its audio began (${failure.message}); retrying once`,
        ),
    });
  } catch (caught) {
    const err = olderWorkerFormat(caught, input.format);
    await finish({ bytes: 0, error: err });
    throw err;
  }
  spoken.voice = call.start.voice;
  spoken.provider = call.start.provider;
  const headers = {
    ...callHeaders,
    'x-agentbus-voice': call.start.voice,
    'x-agentbus-provider': call.start.provider,
    'x-agentbus-worker': call.start.worker,
  };
  return { ...call, agent, headers, finish };
}
