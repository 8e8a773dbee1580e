import type { MsgHdrs } from '@nats-io/transport-node';
import {
  AgentbusError,
  decodeReplyFrame,
  encodeJson,
  inboxScopes,
  type DeliveryReceipt,
  type ReplyFrame,
} from '../../bus-schemas/index.js';
import { readEnv, type EnvReader } from '../../common/env.js';
import { connectBus, type Bus } from '../../common/bus.js';
import { createLogger } from '../../common/logger.js';
import { readNatsClientSettings } from '../../common/nats-client.js';
import { readDataDir, readNatsUrl, readSubjectPrefix } from '../../common/shared-settings.js';
import { asBundledUser, namesOwnCredentials, recordedNatsUrl } from '../../common/recorded-nats.js';

// What the command-line tools that speak the bus protocol (bus-request, replay) share.

/**
 * NATS URL of a tool: its flag, else NATS_URL, else the nats-server `npm start` runs for DATA_DIR
 * (it moves off a taken 4222 and records its port in DATA_DIR/nats-server.json), else the local default.
 */
export function natsUrlOf(
  flag: string | undefined,
  read: EnvReader = readEnv(),
  env: NodeJS.ProcessEnv = process.env,
): string {
  // Both read whatever wins, so the reference lists them for the tools.
  const named = readNatsUrl(read);
  const recorded = recordedNatsUrl(readDataDir(read));
  if (flag !== undefined) return flag;
  return env['NATS_URL']?.trim() ? named : (recorded ?? named);
}

/** Subject prefix of a tool: its flag, else SUBJECT_PREFIX, else `agents`. */
export function subjectPrefixOf(flag: string | undefined, read: EnvReader = readEnv()): string {
  return flag ?? readSubjectPrefix(read);
}

/**
 * `env` with the `replay` user of `npm start`'s bundled bus when the tool goes to that very server
 * (the URL its DATA_DIR record names, on loopback) and names no credentials of its own: the
 * password never goes to another server.
 */
export function withBundledReplayUser(natsUrl: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (namesOwnCredentials(env)) return env;
  const dataDir = readDataDir(readEnv(env));
  if (natsUrl !== recordedNatsUrl(dataDir)) return env;
  return asBundledUser(env, dataDir, 'replay') ?? env;
}

/**
 * Connects a command-line tool as the bus's `replay` user: NATS_USER, NATS_PASSWORD or
 * NATS_PASSWORD_FILE and NATS_TLS_* from the environment (docs/security.md), or on `npm start`'s
 * own bus its `replay` password file. Throws an Error whose message names the variables at fault,
 * the URL, or the refused credentials.
 */
export async function connectTool(natsUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<Bus> {
  const read = readEnv(withBundledReplayUser(natsUrl, env));
  const client = readNatsClientSettings(read, 'replay', natsUrl);
  read.done();
  // Warnings (an outdated nats-server) go to stderr: stdout carries the frames, for scripts.
  const log = createLogger('agentbus-tool', { level: 'warn', destination: process.stderr });
  return connectBus({ url: natsUrl, role: 'replay', name: 'agentbus-tool', log, client });
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
  /**
   * Why the answer does not count as delivered to the conversation's client, if it does not: the
   * receipt then says so and the worker stores nothing new. Default: delivered, this tool is the client.
   */
  notDelivered?: string;
}

/**
 * Publishes one chat request envelope (bytes as they are) on `subject` with a fresh inbox of
 * the tool's own and passes on every reply frame until the terminal frame and its empty
 * sentinel. Throws for no responders and for a frame that is not a valid reply frame.
 */
export function exchangeEnvelope(
  bus: Bus,
  subject: string,
  payload: Uint8Array,
  options: ExchangeOptions,
): Promise<ExchangeOutcome> {
  const onFrame = options.onFrame ?? ((frame: ReplyFrame) => process.stdout.write(`${JSON.stringify(frame)}\n`));
  const { notDelivered } = options;
  const receiptFor = (requestId: string): DeliveryReceipt =>
    notDelivered === undefined
      ? { v: 2, request_id: requestId, delivered: true }
      : { v: 2, request_id: requestId, delivered: false, reason: notDelivered };
  return new Promise<ExchangeOutcome>((resolve, reject) => {
    let outcome: ExchangeOutcome = 'silent';
    const finish = (error?: Error) => {
      clearTimeout(timer);
      sub.unsubscribe();
      if (error) reject(error);
      else resolve(outcome);
    };
    const timer = setTimeout(() => finish(), options.maxWaitMs);
    // `<prefix>.<intent>.chat`: the inbox is the intent's, the only one its workers may answer on.
    const intent = subject.split('.').at(-2) ?? '';
    const sub = bus.subscribeInbox(inboxScopes.chat(intent), (err, msg) => {
      if (err) return finish(err);
      if (msg.data.length === 0) {
        // NATS's status for a subject nobody serves, else the sentinel after the terminal frame.
        if (msg.headers?.code === 503) return finish(new Error(`no responders: nobody serves ${subject}`));
        return finish();
      }
      try {
        const frame = decodeReplyFrame(msg.data);
        onFrame(frame);
        // A done sent as a request (protocol v2) waits for a receipt: this tool received it whole.
        if (frame.type === 'done' && msg.reply) bus.publish(msg.reply, encodeJson(receiptFor(frame.request_id)));
        if (frame.type === 'done') outcome = 'done';
        if (frame.type === 'error') outcome = 'error';
      } catch (error) {
        finish(error as Error);
      }
    });
    bus.publish(subject, payload, {
      reply: sub.getSubject(),
      ...(options.headers ? { headers: options.headers } : {}),
    });
  });
}

/** One line for stderr about a failure: an AgentbusError's code, or the message. */
export function describeFailure(err: unknown): string {
  return err instanceof AgentbusError ? `${err.code}: ${err.message}` : ((err as Error).message ?? String(err));
}
