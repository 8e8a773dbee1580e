import { connect, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { AgentbusError, decodeReplyFrame, type ReplyFrame } from '../../bus-schemas/index.js';
import { readEnv, type EnvReader } from '../../common/env.js';
import { isAuthorizationError } from '../../common/nats.js';
import { describeCredentials, natsConnectOptions, readNatsClientSettings } from '../../common/nats-client.js';
import { readNatsUrl, readSubjectPrefix } from '../../common/shared-settings.js';

// What the command-line tools that speak the bus protocol (bus-request, replay) share.

/** NATS URL of a tool: its flag, else NATS_URL, else the local default. */
export function natsUrlOf(flag: string | undefined, read: EnvReader = readEnv()): string {
  return flag ?? readNatsUrl(read);
}

/** Subject prefix of a tool: its flag, else SUBJECT_PREFIX, else `agents`. */
export function subjectPrefixOf(flag: string | undefined, read: EnvReader = readEnv()): string {
  return flag ?? readSubjectPrefix(read);
}

/**
 * Connects a command-line tool as the bus's `replay` user: NATS_USER, NATS_PASSWORD or
 * NATS_PASSWORD_FILE and NATS_TLS_* from the environment (README, "Securing the bus"). Throws
 * an Error whose message names the variables at fault, the URL, or the refused credentials.
 */
export async function connectTool(natsUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<NatsConnection> {
  const read = readEnv(env);
  const client = readNatsClientSettings(read, 'replay', natsUrl);
  read.done();
  try {
    return await connect({ servers: natsUrl.split(','), timeout: 5000, ...natsConnectOptions(client) });
  } catch (err) {
    if (isAuthorizationError(err))
      throw new Error(
        `NATS at ${natsUrl} refused the connection (Authorization Violation): ${describeCredentials(client)}`,
        { cause: err },
      );
    throw new Error(`cannot connect to NATS at ${natsUrl} (NATS_URL or --nats): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** How the exchange ended: a `done` frame, an `error` frame, or no terminal frame in time. */
export type ExchangeOutcome = 'done' | 'error' | 'silent';

export interface ExchangeOptions {
  /** Headers to publish with the envelope (the gateway's `Agentbus-Request-Id`, `traceparent`). */
  headers?: MsgHdrs;
  /** Longest wait for the whole answer, in ms. */
  maxWaitMs: number;
  /** Called with each reply frame as it arrives; default prints it as one JSON line on stdout. */
  onFrame?: (frame: ReplyFrame) => void;
}

/**
 * Publishes one chat request envelope (bytes as they are) on `subject` with a fresh inbox and
 * passes on every reply frame until the terminal frame and its empty sentinel. Throws for no
 * responders (NATS's message names them) and for a frame that is not a valid reply frame.
 */
export async function exchangeEnvelope(
  nc: NatsConnection,
  subject: string,
  payload: Uint8Array,
  options: ExchangeOptions,
): Promise<ExchangeOutcome> {
  const onFrame = options.onFrame ?? ((frame: ReplyFrame) => process.stdout.write(`${JSON.stringify(frame)}\n`));
  // The sentinel strategy ends the iteration at the empty message that follows the terminal frame.
  const replies = await nc.requestMany(subject, payload, {
    strategy: 'sentinel',
    maxWait: options.maxWaitMs,
    ...(options.headers ? { headers: options.headers } : {}),
  });
  let outcome: ExchangeOutcome = 'silent';
  for await (const msg of replies) {
    if (msg.data.length === 0) break; // the sentinel itself is yielded too
    const frame = decodeReplyFrame(msg.data);
    onFrame(frame);
    if (frame.type === 'done') outcome = 'done';
    if (frame.type === 'error') outcome = 'error';
  }
  return outcome;
}

/** One line for stderr about a failure: an AgentbusError's code, or the message. */
export function describeFailure(err: unknown): string {
  return err instanceof AgentbusError ? `${err.code}: ${err.message}` : ((err as Error).message ?? String(err));
}
