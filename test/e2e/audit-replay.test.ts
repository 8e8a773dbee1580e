import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headers as natsHeaders } from '@nats-io/transport-node';
import t, { type Test } from 'tap';
import {
  assertChatRequest,
  assertSpeechRequest,
  encodeJson,
  isReplyFrame,
  subjectsFor,
} from '../../bus-schemas/index.js';
import { connectBus } from '../../common/bus.js';
import { createLogger } from '../../common/logger.js';
import { withTimeout } from '../../common/timeout.js';
import { envelopeAt, findEnvelopes } from '../../gateway/audit/audit-lookup.js';
import { auditStreamName, DEFAULT_AUDIT_STREAM, ensureAuditStream } from '../../gateway/audit/audit-stream.js';
import { buildApp } from '../../gateway/app.js';
import { loadGatewayConfig } from '../../gateway/config.js';
import { startTestNats } from '../helpers/nats.js';
import { runScriptToExit, type ScriptRun } from '../helpers/processes.js';
import { AUTH, LogSink, startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const PREFIX = 'audit-test.agents';
const STREAM = auditStreamName(PREFIX);
const stack = await startStack({ env: { AUDIT: 'on', SUBJECT_PREFIX: PREFIX } });
t.teardown(() => stack.close());
const jsm = await stack.bus.jetstreamManager();

/** `npm run replay -- …` as a child process, bounded in time. */
function replay(args: string[], env: Record<string, string> = {}): Promise<ScriptRun> {
  return runScriptToExit(
    'scripts/replay.ts',
    args,
    { NATS_URL: stack.natsUrl, SUBJECT_PREFIX: PREFIX, ...env },
    { teardown: t },
  );
}

// Heartbeats left out: a worker slower than a heartbeat to ack (a loaded machine) sends one first.
const frameTypes = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line).type as string)
    .filter((type) => type !== 'heartbeat');

async function chat(t: Test, content: string): Promise<string> {
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'code_review', messages: [{ role: 'user', content }] }),
  });
  t.equal(res.status, 200, 'the chat request works as without audit');
  const body = (await res.json()) as { id: string };
  return body.id;
}

t.test('the stream name follows the prefix', async (t) => {
  t.equal(auditStreamName('agents'), DEFAULT_AUDIT_STREAM);
  t.equal(STREAM, 'AGENTBUS_AUDIT_audit-test_agents');
  t.throws(() => auditStreamName('bad prefix'));
});

t.test('the gateway created the audit stream: no_ack, file storage, the configured limits', async (t) => {
  const { config } = await jsm.streams.info(STREAM);
  t.same(config.subjects, [
    subjectsFor(PREFIX).allAudit,
    subjectsFor(PREFIX).allAuditEmbed,
    subjectsFor(PREFIX).allAuditSpeech,
  ]);
  t.equal(config.no_ack, true);
  t.equal(config.storage, 'file');
  t.equal(config.max_age, 7 * 24 * 3600 * 1e9);
  t.equal(config.max_bytes, 512 * 1024 * 1024);
});

let requestId = '';
t.test('a chat request over HTTP is recorded: a valid envelope, with its headers', async (t) => {
  stack.ollama.behave({ tokens: ['Looks', ' fine.'] });
  requestId = await chat(t, 'Review: def add(a, b): return a + b');
  const found = await findEnvelopes(jsm, STREAM, requestId, { maxScan: 100, timeoutMs: 5000 });
  t.equal(found.exact.length, 1, 'stored once');
  t.ok(found.complete);
  const stored = (await envelopeAt(jsm, STREAM, found.exact[0]!.seq))!;
  t.equal(stored.subject, subjectsFor(PREFIX).audit('code_review'), 'a copy on the audit subject');
  const envelope = assertChatRequest(JSON.parse(Buffer.from(stored.data).toString('utf8')));
  t.equal(envelope.request_id, requestId);
  t.equal(stored.headers?.get('Agentbus-Request-Id'), requestId);
  t.match(stored.headers?.get('traceparent'), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  t.equal(stored.headers?.get('traceparent'), envelope.traceparent);
});

t.test('a requester receives reply frames only, never a stream PubAck', async (t) => {
  const found = await findEnvelopes(jsm, STREAM, requestId, { maxScan: 100 });
  const stored = (await envelopeAt(jsm, STREAM, found.exact[0]!.seq))!;
  const inbox = stack.bus.newInbox();
  const bodies: unknown[] = [];
  const ended = new Promise<void>((resolve) => {
    const sub = stack.bus.subscribe(inbox, {
      callback: (_err, msg) => {
        if (msg.data.length > 0) bodies.push(JSON.parse(new TextDecoder().decode(msg.data)));
        // the end marker, or far more than an answer has
        if (msg.data.length === 0 || bodies.length > 50) {
          sub.unsubscribe();
          resolve();
        }
      },
    });
  });
  // The request on its chat subject, as the gateway sends it: the stream records the audit copy
  // only, so it never answers (nor hides "no responders").
  stack.bus.publish(subjectsFor(PREFIX).chat('code_review'), stored.data, {
    reply: inbox,
    headers: stored.headers ?? natsHeaders(),
  });
  await withTimeout(ended, 10_000, () => undefined);
  t.ok(bodies.length >= 3);
  t.ok(
    bodies.every((body) => isReplyFrame(body)),
    'every message is a reply frame',
  );
  t.notOk(
    bodies.some((body) => typeof body === 'object' && body !== null && 'stream' in body),
    'no {stream, seq} PubAck',
  );
});

async function turnsOf(id: string) {
  return stack.db.selectFrom('turns').selectAll().where('request_id', '=', id).execute();
}

t.test('npm run replay -- <request id>: answered again, stored once', async (t) => {
  const calls = stack.ollama.requests.length;
  const { code, stdout, stderr } = await replay([requestId]);
  t.equal(code, 0, stderr);
  const types = frameTypes(stdout);
  t.equal(types[0], 'ack');
  t.equal(types.at(-1), 'done');
  t.ok(
    stdout
      .trim()
      .split('\n')
      .every((line) => JSON.parse(line).request_id === requestId),
  );
  t.equal(stack.ollama.requests.length, calls + 1, 'the model was called again');
  t.equal((await turnsOf(requestId)).length, 1, 'the memory still holds one turn for the request id');
  t.match(stderr, /replaying sequence \d+/);
});

t.test('npm run replay -- <seq>: the same, by stream sequence', async (t) => {
  const found = await findEnvelopes(jsm, STREAM, requestId, { maxScan: 100 });
  t.equal(found.exact.length, 1, 'replays are not recorded again (only the gateway publishes audit copies)');
  const calls = stack.ollama.requests.length;
  const { code, stdout, stderr } = await replay([String(found.exact[0]!.seq)]);
  t.equal(code, 0, stderr);
  const types = frameTypes(stdout);
  t.same([types[0], types.at(-1)], ['ack', 'done']);
  t.equal(stack.ollama.requests.length, calls + 1);
  t.equal((await turnsOf(requestId)).length, 1);
});

t.test('a model answering a delivered request with other words: shown, not stored, exit 0', async (t) => {
  const [stored] = await turnsOf(requestId);
  stack.ollama.behave({ tokens: ['a', ' different', ' answer'] });
  t.teardown(() => stack.ollama.behave({}));
  const calls = stack.ollama.requests.length;
  const { code, stdout, stderr } = await replay([requestId]);
  t.equal(code, 0, 'the normal outcome of replaying a delivered request, not a failure');
  t.equal(stack.ollama.requests.length, calls + 1, 'the model was called again');
  const last = JSON.parse(stdout.trim().split('\n').at(-1)!);
  t.match(
    last,
    { type: 'error', error: { code: 'answer_conflict' } },
    'stdout keeps the frames as the worker sent them',
  );
  t.match(stderr, /answer: "a different answer"/);
  t.match(stderr, /not stored: the request was already delivered/);
  t.same(await turnsOf(requestId), [stored], 'the stored turn is kept as it was');
});

t.test('an error frame exits 1, and stores nothing more', async (t) => {
  stack.ollama.behave({ failWith: { status: 500, message: 'boom' } });
  t.teardown(() => stack.ollama.behave({}));
  const { code, stdout } = await replay([requestId]);
  t.equal(code, 1);
  t.equal(frameTypes(stdout).at(-1), 'error');
  t.equal((await turnsOf(requestId)).length, 1);
});

t.test('a replayed answer is never added to memory: a deleted answer stays deleted', async (t) => {
  const id = await chat(t, 'Review: def sub(a, b): return a - b');
  const completion = `${stack.baseUrl}/v1/chat/completions/${id}`;
  t.equal((await fetch(completion, { method: 'DELETE', headers: AUTH })).status, 200);
  t.same(await turnsOf(id), [], 'deleted');
  await findEnvelopes(jsm, STREAM, id, { maxScan: 100, timeoutMs: 5000 });
  const { code, stdout, stderr } = await replay([id]);
  t.equal(code, 0, stderr);
  t.equal(frameTypes(stdout).at(-1), 'done', 'the operator gets the answer');
  t.match(stderr, /memory unchanged: a replayed answer goes to its operator, not into the conversation/);
  // The worker acknowledges the receipt before it discards: the row goes a moment after the tool ends.
  await waitFor('the replayed turn discarded', async () => (await turnsOf(id)).length === 0);
  t.pass('no turn written back');
  t.equal((await fetch(completion, { headers: AUTH })).status, 404);
});

t.test('a protocol v1 envelope (no receipts) is replayed as v2, so it adds no turn either', async (t) => {
  const id = 'chatcmpl-replayed-v1-envelope';
  const found = await findEnvelopes(jsm, STREAM, requestId, { maxScan: 100 });
  const recorded = assertChatRequest(
    JSON.parse(Buffer.from((await envelopeAt(jsm, STREAM, found.exact[0]!.seq))!.data).toString()),
  );
  const v1 = { ...recorded, v: 1, request_id: id, session_id: 'conv_replayed-v1', create_session: true };
  const h = natsHeaders();
  h.set('Agentbus-Request-Id', id);
  // As the gateway records it: a copy on the audit subject (the stream sends no PubAck).
  stack.bus.publish(subjectsFor(PREFIX).audit('code_review'), encodeJson(v1), { headers: h });
  await waitFor('the v1 envelope recorded', async () => {
    const { exact } = await findEnvelopes(jsm, STREAM, id, { maxScan: 100 });
    return exact.length === 1;
  });
  const { code, stdout, stderr } = await replay([id]);
  t.equal(code, 0, stderr);
  t.equal(frameTypes(stdout).at(-1), 'done');
  await waitFor('the replayed v1 turn discarded', async () => (await turnsOf(id)).length === 0);
  t.pass("no turn: the replay's receipt kept it out, as for v2");
});

t.test('unknown request id, unknown sequence, bad usage → exit 2 with a clear message', async (t) => {
  const unknown = await replay(['chatcmpl-nobody-sent-this']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /no envelope with request id "chatcmpl-nobody-sent-this"/);
  t.match(unknown.stderr, /NATS_URL=nats:\/\/127\.0\.0\.1:\d+, SUBJECT_PREFIX=audit-test\.agents/);
  t.equal(unknown.stdout, '');

  const seq = await replay(['999999']);
  t.equal(seq.code, 2);
  t.match(seq.stderr, /no message at sequence 999999/);

  const usage = await replay([]);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /usage: npm run replay/);

  const otherPrefix = await replay([requestId], { SUBJECT_PREFIX: 'nobody' });
  t.equal(otherPrefix.code, 2);
  t.match(otherPrefix.stderr, /no audit stream "AGENTBUS_AUDIT_nobody"/);
});

t.test('a speech request is recorded too; replay names it and does not re-send it', async (t) => {
  const res = await fetch(`${stack.baseUrl}/v1/audio/speech`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'tts-1', input: 'Audited speech', voice: 'alloy', response_format: 'wav' }),
  });
  t.equal(res.status, 200);
  await res.arrayBuffer();
  const speechId = res.headers.get('x-request-id')!;
  const found = await findEnvelopes(jsm, STREAM, speechId, { maxScan: 100, timeoutMs: 5000 });
  t.equal(found.exact.length, 1, 'stored once');
  const stored = (await envelopeAt(jsm, STREAM, found.exact[0]!.seq))!;
  t.equal(stored.subject, subjectsFor(PREFIX).auditSpeech('voice_processor'));
  const envelope = assertSpeechRequest(JSON.parse(Buffer.from(stored.data).toString('utf8')));
  t.match(envelope, { request_id: speechId, input: 'Audited speech', voice: 'alloy', format: 'wav' });
  t.equal(stored.headers?.get('Agentbus-Request-Id'), speechId);
  const replayed = await replay([speechId]);
  t.equal(replayed.code, 2);
  t.match(replayed.stderr, /is a speech request \(voice agent voice_processor, 14 characters\); replay re-sends chat/);
  t.equal(replayed.stdout, '');
});

t.test('set-up is idempotent and follows changed limits', async (t) => {
  const log = createLogger('test', { destination: new LogSink() });
  const settings = { enabled: true, maxAgeSeconds: 3600, maxBytes: 2 * 1024 * 1024 };
  t.equal(await ensureAuditStream({ bus: stack.bus, subjectPrefix: PREFIX, settings, log }), STREAM);
  const before = await jsm.streams.info(STREAM);
  t.equal(before.config.max_age, 3600 * 1e9);
  t.equal(before.config.max_bytes, 2 * 1024 * 1024);
  t.ok(before.state.messages >= 1, 'stored envelopes kept');
  t.equal(await ensureAuditStream({ bus: stack.bus, subjectPrefix: PREFIX, settings, log }), STREAM);
  t.equal((await jsm.streams.info(STREAM)).state.messages, before.state.messages);
});

t.test('AUDIT=off creates no stream', async (t) => {
  const sink = new LogSink();
  const config = loadGatewayConfig({ ...stack.env, AUDIT: 'off', SUBJECT_PREFIX: 'audit-off' });
  t.equal(config.audit.enabled, false);
  const app = await buildApp({
    config,
    bus: stack.bus,
    catalog: stack.catalog,
    logger: createLogger('off', { destination: sink }),
  });
  await app.close();
  const names: string[] = [];
  for await (const name of jsm.streams.names()) names.push(name);
  t.notOk(names.includes(auditStreamName('audit-off')));
  t.same(
    names.filter((name) => name.startsWith(DEFAULT_AUDIT_STREAM)),
    [STREAM],
  );
});

t.test('without JetStream the gateway starts, with one warning, and records nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-nojs-'));
  const confFile = join(dir, 'nats.conf');
  writeFileSync(confFile, 'max_payload: 1MB\n'); // no jetstream block
  const nats = await startTestNats(confFile);
  const bus = await connectBus({ url: nats.url, role: 'gateway', name: 'test-nojs', log: createLogger('off') });
  t.teardown(async () => {
    await bus.close();
    await nats.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  const sink = new LogSink();
  const config = loadGatewayConfig({ ...stack.env, NATS_URL: nats.url, AUDIT: 'on' });
  const app = await buildApp({
    config,
    bus,
    catalog: stack.catalog,
    logger: createLogger('nojs', { destination: sink }),
  });
  await app.close();
  const warnings = sink.lines.filter((line) => line['component'] === 'audit' && line['level'] === 40);
  t.equal(warnings.length, 1);
  t.match(warnings[0]!['msg'], /cannot set up the audit stream AGENTBUS_AUDIT.*AUDIT=off/);
  // Told at once by NATS (no responders on the JetStream API), so the boot was not held up by
  // the set-up's API timeouts, which would have said "timeout" instead.
  t.match(warnings[0]!['msg'], /\(jetstream is not enabled\)/, 'the boot is not held up for long');

  const { code, stderr } = await replay(['chatcmpl-x'], { NATS_URL: nats.url, SUBJECT_PREFIX: 'agents' });
  t.equal(code, 2);
  t.match(stderr, /JetStream is not available \(NATS_URL=nats:\/\/127\.0\.0\.1:\d+, SUBJECT_PREFIX=agents\)/);
});
