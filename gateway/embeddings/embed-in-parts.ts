import { AgentbusError, type EmbedRequest, type EmbedVectorsReply } from '../../bus-schemas/index.js';
import { LightSignal, type SignalLike } from '../../common/light-signal.js';
import type { PartRange } from './batch-parts.js';

/**
 * How many parts of one batch are on the bus at once: enough for the agent's workers to share a
 * large batch (each part goes to any member of its queue group), one fewer than a worker's default
 * MAX_INFLIGHT (4), so one client's batch leaves a lone worker a model slot for chat.
 */
export const PARTS_AT_ONCE = 3;

export interface EmbedInPartsOptions {
  /** The whole batch, as one request would carry it. */
  envelope: EmbedRequest;
  /** From batch-parts.ts: in input order, together every input once. */
  parts: PartRange[];
  /** Aborts when the client left: no further part is sent, and those on the bus are cancelled. */
  signal?: SignalLike | undefined;
  /** At most this many parts at once; default {@link PARTS_AT_ONCE}. */
  atOnce?: number;
  /**
   * Embeds one part, with the single request's retry (retry-embeddings.ts). `stop` aborts when
   * another part failed or the client left: its worker is then told to stop.
   */
  embedPart(part: EmbedRequest, stop: SignalLike): Promise<EmbedVectorsReply>;
}

/**
 * A batch too large for one bus message, embedded as several requests (`<id>.1`, `<id>.2`, … each
 * its own request id: its own cancel and audit copy), at most `atOnce` at a time, and answered as
 * one: the vectors in input order, the usage summed. The first part that fails fails the batch
 * (an embedding has no partial answer): the parts still on the bus are cancelled, none is sent
 * after it, and its error is the answer once they have all ended.
 */
export async function embedInParts(options: EmbedInPartsOptions): Promise<EmbedVectorsReply> {
  const { envelope, parts } = options;
  const stop = new LightSignal();
  const clientLeft = () => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) clientLeft();
  options.signal?.addEventListener('abort', clientLeft, { once: true });
  const replies: EmbedVectorsReply[] = [];
  let answered = 0;
  let failure: AgentbusError | undefined;
  let next = 0;
  const runner = async () => {
    while (!stop.aborted && next < parts.length) {
      const index = next++;
      try {
        replies[index] = await embedOne(options, index, stop);
        answered++;
      } catch (err) {
        failure ??= AgentbusError.from(err);
        stop.abort(failure);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(options.atOnce ?? PARTS_AT_ONCE, parts.length) }, runner));
  } finally {
    options.signal?.removeEventListener('abort', clientLeft);
  }
  // No part failed, yet the client left before every part was sent: as a single request's cancel.
  if (!failure && answered < parts.length) failure = leftBeforeAnswer();
  if (failure) throw failure;
  return merged(envelope.request_id, replies);
}

/** One part, its answer checked against its inputs: a vector more or fewer would shift every index after it. */
async function embedOne(options: EmbedInPartsOptions, index: number, stop: SignalLike): Promise<EmbedVectorsReply> {
  const { envelope } = options;
  const { start, end } = options.parts[index]!;
  const input = envelope.input.slice(start, end);
  const part: EmbedRequest = { ...envelope, request_id: `${envelope.request_id}.${index + 1}`, input };
  let reply: EmbedVectorsReply;
  try {
    reply = await options.embedPart(part, stop);
  } catch (err) {
    throw namedInBatch(AgentbusError.from(err), start, end);
  }
  if (reply.embeddings.length !== input.length)
    throw new AgentbusError(
      'stream_protocol_error',
      `The worker answered inputs ${start}–${end - 1} of the batch with ${reply.embeddings.length} vectors ` +
        `for ${input.length} inputs.`,
    );
  return reply;
}

/**
 * A part's error in the client's terms: the worker names an input of the part (`input[0]`), the
 * client sent it at `start`; a part of one input too large for the bus is that input.
 */
function namedInBatch(error: AgentbusError, start: number, end: number): AgentbusError {
  const named = /^input\[(\d+)\]$/.exec(error.param ?? '');
  if (named) {
    const param = `input[${start + Number(named[1])}]`;
    return error.restated({ param, message: error.message.replaceAll(error.param!, param) });
  }
  if (error.code === 'request_too_large' && error.param === 'input' && end - start === 1)
    return error.restated({
      param: `input[${start}]`,
      message: error.message.replace(/^The input/, `input[${start}]`),
    });
  return error;
}

/** The parts' answers as one answer of the whole batch; parts of unlike widths came from unlike models. */
function merged(requestId: string, replies: EmbedVectorsReply[]): EmbedVectorsReply {
  const first = replies[0]!;
  const width = (reply: EmbedVectorsReply) => Buffer.byteLength(reply.embeddings[0] ?? '', 'base64') / 4;
  const unlike = replies.find((reply) => width(reply) !== width(first));
  if (unlike)
    throw new AgentbusError(
      'backend_error',
      `Parts of the batch came back with vectors of unlike widths (${first.model}: ${width(first)}, ` +
        `${unlike.model}: ${width(unlike)}): different models answered, and their vectors do not mix.`,
    );
  const promptTokens = replies.reduce((sum, reply) => sum + reply.usage.prompt_tokens, 0);
  const totalTokens = replies.reduce((sum, reply) => sum + reply.usage.total_tokens, 0);
  return {
    type: 'embeddings',
    request_id: requestId,
    embeddings: replies.flatMap((reply) => reply.embeddings),
    model: first.model,
    provider: first.provider,
    usage: { prompt_tokens: promptTokens, total_tokens: totalTokens },
  };
}

const leftBeforeAnswer = () =>
  new AgentbusError(
    'request_cancelled',
    'The client left before the embeddings were ready; the workers were told to stop.',
  );
