import { randomBytes } from 'node:crypto';
import { AgentbusError, PROTOCOL_VERSION, type TranscriptionRequest } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import { admit } from '../chat/admit.js';
import { refundIfRefused } from '../http/admit-before-body.js';
import type { CallOrigin, ChatDeps } from '../chat/types.js';
import { traceIdOf } from '../trace-log/trace-log.js';
import { sniffAudio } from './sniff-audio.js';
import { callTranscription, type TranscriptionAnswer } from './transcription-call.js';
import { voiceAgent } from '../audio/voice-agent.js';
import { traceparentFor } from '../chat/traceparent.js';

/** What a client sends: the audio and OpenAI's fields that reach the worker. */
export interface TranscriptionInput {
  model: string;
  file: Buffer;
  language: string | undefined;
  /** English text whatever was spoken (`POST /v1/audio/translations`). */
  translate?: boolean | undefined;
}

/** The transcript, who made it, and the headers every answer sends. */
export interface TranscriptionResult extends TranscriptionAnswer {
  agent: Agent;
  headers: Record<string, string>;
}

/**
 * A transcription: the named voice agent (scope, alias), an upload that is audio, the key's rate
 * limits, the request and its audio over the bus to a worker of the agent's queue group, and a
 * trace log line when it ends (the transcript's length, never the audio). Nothing is stored.
 * `signal` aborts when the client leaves, which cancels the work on the worker.
 */
export async function startTranscription(
  deps: ChatDeps,
  input: TranscriptionInput,
  origin: CallOrigin,
  signal: AbortSignal,
): Promise<TranscriptionResult> {
  const { caller, hints } = origin;
  const { agent, format } = await refundIfRefused(origin.admission, () => ({
    agent: voiceAgent(deps.catalog, 'transcription', input.model, origin.pathAgent, caller),
    format: sniffAudio(input.file),
  }));
  const now = Date.now();
  const requestId = `transcribe-${randomBytes(18).toString('base64url')}`;
  const traceparent = traceparentFor(origin.traceparent);
  const totalMs = agent.timeouts.totalMs ?? deps.config.requestTimeoutMs;
  // Audio is not text: like speech, it spends a request of the key's tier, not its byte budget.
  const admission = origin.admission ?? (await admit(deps, caller, 0, totalMs));
  const callHeaders = { 'x-request-id': requestId, traceparent, ...admission.headers };
  origin.announce?.(callHeaders);
  const envelope: TranscriptionRequest = {
    v: PROTOCOL_VERSION,
    request_id: requestId,
    intent: agent.name,
    model: input.model,
    format,
    bytes: input.file.length,
    ...(input.language === undefined ? {} : { language: input.language }),
    // Only when asked: a worker from before this field refuses an envelope that has it.
    ...(input.translate ? { translate: true } : {}),
    ...(hints.private || caller.private ? { private: true } : {}),
    tenant: caller.tenant,
    timeout_ms: Math.min(totalMs, hints.timeoutMs ?? totalMs),
    traceparent,
    created_at: now,
  };
  let answer: TranscriptionAnswer | undefined;
  let failure: unknown;
  try {
    answer = await callTranscription(deps.bus, deps.subjects, envelope, input.file, signal, (failure) =>
      origin.log.warn(
        { code: failure.code, agent: agent.name },
        `transcription by ${agent.name} failed before its upload (${failure.message}); retrying once`,
      ),
    );
  } catch (err) {
    failure = err;
  } finally {
    await admission.release();
  }
  deps.traceLog.record({
    ts: new Date(now).toISOString(),
    trace_id: traceIdOf(traceparent),
    request_id: requestId,
    session: null,
    agent: agent.name,
    model: answer ? `${answer.done.provider ?? answer.ready.provider}:${answer.done.language}` : agent.name,
    prompt: `[audio ${format}, ${input.file.length} bytes]`,
    response_len: answer?.done.text.length ?? 0,
    cached: false,
    status: failure === undefined ? 200 : failure instanceof AgentbusError ? failure.status : 500,
    ...(failure === undefined ? {} : { error: failure instanceof AgentbusError ? failure.code : 'internal_error' }),
    duration_ms: Date.now() - now,
  });
  if (!answer) throw failure;
  const headers = {
    ...callHeaders,
    'x-agentbus-worker': answer.ready.worker,
    // The engine that heard it: a fallback after `ready` changes it.
    'x-agentbus-provider': answer.done.provider ?? answer.ready.provider,
  };
  return { ...answer, agent, headers };
}
