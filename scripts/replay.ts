import { parseArgs } from 'node:util';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { Bus } from '../common/bus.js';
import { encodeJson, isChatRequest, isEmbedRequest, isSpeechRequest, type ReplyFrame } from '../bus-schemas/index.js';
import { envelopeAt, findEnvelopes, type StoredEnvelope } from '../gateway/audit/audit-lookup.js';
import { auditStreamName } from '../gateway/audit/audit-stream.js';
import { connectTool, describeFailure, exchangeEnvelope, natsUrlOf, subjectPrefixOf } from './lib/bus-exchange.js';
import { exchangeEmbedEnvelope } from './lib/embed-exchange.js';

const USAGE =
  'usage: npm run replay -- <request id | stream seq> ' +
  `[--nats URL] [--prefix PREFIX] [--stream NAME] [--id] [--scan N]

Takes one chat request envelope from the gateway's audit stream (AUDIT=on) and publishes it again,
with its headers, on the subject it was first published on, then prints every reply frame as one
JSON line until the terminal frame. The worker answers it again (the model is called again) but
memory does not change: the replay's receipt says the answer did not reach the conversation's
client, so no turn is added — a request whose client never got its answer, or whose answer was
deleted since, stays out of the conversation. A request that was delivered keeps its one stored
turn; when the new answer differs it ends with an answer_conflict frame: replay then prints the
answer and "not stored: the request was already delivered" on stderr, and exits 0.

  <seq>        a number: the envelope at that stream sequence (nats stream view shows them)
  <request id> the first envelope stored with exactly that request id (a retry of the same id is
               stored again, later); the other parts of a fan-out (<id>.<agent>, <id>.aggregate)
               are listed on stderr and replayed by their own id or seq
  --id         read a number as a request id, not a sequence
  --nats       NATS server (default NATS_URL, else npm start's for DATA_DIR, else nats://127.0.0.1:4222)
  --prefix     the gateway's subject prefix (default SUBJECT_PREFIX, else agents); names the stream
  --stream     the audit stream (default AGENTBUS_AUDIT, or AGENTBUS_AUDIT_<prefix>)
  --scan       look for a request id among the newest N envelopes at most (default 10000)

On a locked-down bus (nats.conf) it connects as the replay user: NATS_USER=replay and
NATS_PASSWORD_FILE (or NATS_PASSWORD); on npm start's own bus, without them, its
DATA_DIR/nats-credentials/replay.password. NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY for TLS.

The stream also records speech requests (POST /v1/audio/speech, spoken chat answers): those are
shown by id and sequence but not replayed (exit 2, saying so).

Exit code: 0 after "done" or that answer_conflict; 1 after another "error" frame, no answer in time
or no worker; 2 for a usage error, a speech record, or when the envelope, the stream or NATS cannot be found.`;

/** A failure that is the caller's to fix (usage, not found): exit 2. */
class NotFound extends Error {}

const say = (line: string) => process.stderr.write(`replay: ${line}\n`);

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        nats: { type: 'string' },
        prefix: { type: 'string' },
        stream: { type: 'string' },
        scan: { type: 'string' },
        id: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    say(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const target = positionals[0];
  const maxScan = values.scan === undefined ? 10_000 : Number(values.scan);
  if (!target || positionals.length > 1 || !Number.isInteger(maxScan) || maxScan < 1) {
    say(
      'expected one request id or stream sequence' +
        `${values.scan !== undefined ? ' and --scan as a positive integer' : ''}\n${USAGE}`,
    );
    return 2;
  }
  const natsUrl = natsUrlOf(values.nats);
  const prefix = subjectPrefixOf(values.prefix);
  const where = `NATS_URL=${natsUrl}, SUBJECT_PREFIX=${prefix}`;
  let stream: string;
  try {
    stream = values.stream ?? auditStreamName(prefix);
  } catch (err) {
    say(`${(err as Error).message} (SUBJECT_PREFIX or --prefix)`);
    return 2;
  }

  let bus: Bus;
  try {
    bus = await connectTool(natsUrl);
  } catch (err) {
    say((err as Error).message);
    return 2;
  }
  try {
    const jsm = await openStream(bus, stream, where);
    const stored = await pick(jsm, stream, target, { asId: values.id === true, maxScan, where });
    return await replay(bus, stream, stored);
  } catch (err) {
    if (err instanceof NotFound) {
      say(err.message);
      return 2;
    }
    throw err;
  } finally {
    await bus.close();
  }
}

async function openStream(bus: Bus, stream: string, where: string): Promise<JetStreamManager> {
  let jsm: JetStreamManager;
  try {
    jsm = await bus.jetstreamManager({ timeoutMs: 5000 });
  } catch (err) {
    throw new NotFound(
      `JetStream is not available (${where}): ${(err as Error).message}. ` +
        'The audit stream needs a nats-server with JetStream.',
    );
  }
  try {
    await jsm.streams.info(stream);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
      throw new NotFound(
        `no audit stream "${stream}" (${where}). The gateway creates it at start when AUDIT=on; ` +
          "check that NATS_URL and SUBJECT_PREFIX are the gateway's (or pass --stream).",
      );
    }
    throw err;
  }
  return jsm;
}

async function pick(
  jsm: JetStreamManager,
  stream: string,
  target: string,
  options: { asId: boolean; maxScan: number; where: string },
): Promise<StoredEnvelope> {
  if (!options.asId && /^\d+$/.test(target)) {
    const stored = await envelopeAt(jsm, stream, Number(target));
    if (!stored)
      throw new NotFound(
        `stream "${stream}" holds no message at sequence ${target} (${options.where}); ` +
          'it may have expired (AUDIT_MAX_AGE_SECONDS, AUDIT_MAX_BYTES). ' +
          `Use --id to read ${target} as a request id.`,
      );
    return stored;
  }
  const found = await findEnvelopes(jsm, stream, target, { maxScan: options.maxScan });
  const searched =
    `the newest ${found.scanned} envelope(s) of stream "${stream}"` +
    `${found.complete ? '' : ' (stopped at the time limit)'}`;
  if (found.exact.length === 0) {
    const parts = found.parts.map((p) => `${p.requestId} (seq ${p.seq})`).join(', ');
    throw new NotFound(
      `no envelope with request id "${target}" among ${searched} (${options.where})` +
        `${parts ? `; its parts (a fan-out, or an embeddings batch sent in parts) are: ${parts}` : ''}.`,
    );
  }
  const [first, ...later] = found.exact;
  if (later.length > 0)
    say(
      `request id "${target}" was published ${found.exact.length} times ` +
        `(retries, fallback or earlier replays: seq ${found.exact.map((e) => e.seq).join(', ')}); replaying the first`,
    );
  if (found.parts.length > 0)
    say(
      'other parts of this request, not replayed: ' +
        found.parts.map((p) => `${p.requestId} (seq ${p.seq})`).join(', '),
    );
  const stored = await envelopeAt(jsm, stream, first!.seq);
  if (!stored)
    throw new NotFound(`the envelope at sequence ${first!.seq} expired while looking for it (${options.where})`);
  return stored;
}

async function replay(bus: Bus, stream: string, stored: StoredEnvelope): Promise<number> {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(stored.data).toString('utf8'));
  } catch {
    body = undefined;
  }
  // An embed request (`<prefix>.audit.<agent>.embed`) is answered by one reply, a chat by frames.
  const embed = stored.subject.endsWith('.embed');
  let timeoutMs = 120_000;
  // Speech copies are recorded for the record: their answer is audio, which this tool does not replay.
  if (stored.subject.endsWith('.speech') || isSpeechRequest(body))
    throw new NotFound(
      `the envelope at sequence ${stored.seq} is a speech request` +
        `${isSpeechRequest(body) ? ` (voice agent ${body.intent}, ${body.input.length} characters)` : ''}; ` +
        'replay re-sends chat and embed requests only. Its text is in the stream: nats stream view ' +
        `${stream} (or POST it again to /v1/audio/speech).`,
    );
  if (embed ? isEmbedRequest(body) : isChatRequest(body)) timeoutMs = (body as { timeout_ms: number }).timeout_ms;
  else
    say(
      `the envelope at sequence ${stored.seq} is not a valid ${embed ? 'embed' : 'chat'} request (docs/bus.md); ` +
        'replaying it as stored anyway, the worker will say why',
    );
  // The stream holds copies on the audit subjects; the request itself goes to the agent's own subject.
  const subject = chatSubjectOf(stored.subject);
  say(
    `replaying sequence ${stored.seq} of ${stream} ` +
      `(request id ${stored.requestId ?? 'unknown'}, stored ${stored.time.toISOString()}) on ${subject}`,
  );
  const options = { headers: replayHeaders(stored, stream), maxWaitMs: timeoutMs + 5000 };
  if (embed) {
    const outcome = await exchangeEmbedEnvelope(bus, subject, stored.data, options);
    if (outcome === 'silent') say(`no terminal frame within ${timeoutMs + 5000} ms (the envelope's timeout_ms + 5 s)`);
    return outcome === 'done' ? 0 : 1;
  }
  const seen = new AnswerSeen();
  const outcome = await exchangeEnvelope(bus, subject, awaitingReceipt(body, stored.data), {
    ...options,
    onFrame: (f) => seen.print(f),
    notDelivered: NOT_THE_CLIENT,
  });
  if (outcome === 'silent') say(`no terminal frame within ${timeoutMs + 5000} ms (the envelope's timeout_ms + 5 s)`);
  if (outcome === 'done')
    say('memory unchanged: a replayed answer goes to its operator, not into the conversation (no turn added)');
  // A delivered request keeps its one stored turn: a model answering again with other words gets
  // answer_conflict, which is what a replay of it normally ends with, not its failure.
  if (outcome === 'error' && seen.errorCode === 'answer_conflict') {
    say(`answer: ${JSON.stringify(seen.text)}`);
    say('not stored: the request was already delivered (memory keeps its first answer, once per request id)');
    return 0;
  }
  return outcome === 'done' ? 0 : 1;
}

// The receipt's reason, for the worker's log: the client of the conversation never saw this answer.
const NOT_THE_CLIENT = "a replay (npm run replay): its answer went to an operator, not to the conversation's client";

/**
 * The envelope to publish: as stored, but a protocol v1 one (from a gateway before receipts) as v2,
 * the only change between them, so that its answer too waits for the receipt that keeps it out
 * of memory — a v1 answer is committed when sent.
 */
function awaitingReceipt(body: unknown, data: Uint8Array): Uint8Array {
  return isChatRequest(body) && body.v === 1 ? encodeJson({ ...body, v: 2 }) : data;
}

/** Prints each frame as one JSON line on stdout (for scripts), keeping the answer's text and the error code. */
class AnswerSeen {
  text = '';
  errorCode: string | undefined;

  print(frame: ReplyFrame): void {
    process.stdout.write(`${JSON.stringify(frame)}\n`);
    if (frame.type === 'delta') this.text += frame.content ?? '';
    if (frame.type === 'error') this.errorCode = frame.error.code;
  }
}

/** `<prefix>.audit.<agent>.chat` → `<prefix>.<agent>.chat` (and `.embed` likewise). */
function chatSubjectOf(auditSubject: string): string {
  const tokens = auditSubject.split('.');
  const at = tokens.length - 3;
  return at >= 0 && tokens[at] === 'audit' ? [...tokens.slice(0, at), ...tokens.slice(at + 1)].join('.') : auditSubject;
}

/** The stored headers as they were, plus one saying this is a replay (the audit stream records it again). */
function replayHeaders(stored: StoredEnvelope, stream: string): MsgHdrs {
  const h = natsHeaders();
  for (const key of stored.headers?.keys() ?? []) for (const value of stored.headers!.values(key)) h.append(key, value);
  h.set('Agentbus-Replay-Of', `${stream}/${stored.seq}`);
  return h;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`failed: ${describeFailure(err)}`);
    process.exit(1);
  },
);
