import { TimeoutError } from '@nats-io/transport-node';
import { decodeEmbedReply, inboxScopes, type EmbedReply } from '../../bus-schemas/index.js';
import { isNoRespondersError, type Bus } from '../../common/bus.js';
import type { ExchangeOptions, ExchangeOutcome } from './bus-exchange.js';

/**
 * Publishes one embed request envelope (bytes as they are) on `subject` and passes its one reply
 * on (default: one JSON line on stdout): the embed subjects answer by request/reply, not frames.
 * Throws for no responders and for a reply that is not a valid embed reply.
 */
export async function exchangeEmbedEnvelope(
  bus: Bus,
  subject: string,
  payload: Uint8Array,
  options: Omit<ExchangeOptions, 'onFrame'> & { onReply?: (reply: EmbedReply) => void },
): Promise<ExchangeOutcome> {
  const onReply = options.onReply ?? ((reply: EmbedReply) => process.stdout.write(`${JSON.stringify(reply)}\n`));
  // `<prefix>.<intent>.embed`: the intent's chat inbox, the only one its workers may answer on.
  const intent = subject.split('.').at(-2) ?? '';
  let data: Uint8Array;
  try {
    const answer = await bus.request(subject, payload, {
      timeoutMs: options.maxWaitMs,
      inboxScope: inboxScopes.chat(intent),
      ...(options.headers ? { headers: options.headers } : {}),
    });
    data = answer.data;
  } catch (err) {
    if (isNoRespondersError(err)) throw new Error(`no responders: nobody serves ${subject}`, { cause: err });
    if (err instanceof TimeoutError) return 'silent';
    throw err;
  }
  const reply = decodeEmbedReply(data);
  onReply(reply);
  return reply.type === 'embeddings' ? 'done' : 'error';
}
