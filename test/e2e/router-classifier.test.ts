import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  decodeCancelRequest,
  decodeChatRequest,
  isChatRequest,
  subjectsFor,
  type CancelRequest,
  type ChatRequest,
} from '../../bus-schemas/index.js';
import { createClassifier } from '../../gateway/router/classifier.js';
import { createRoutingTable, DEFAULT_ROUTING_FILE } from '../../gateway/router/load-routing-table.js';
import { createRouter, type Router } from '../../gateway/router/router.js';
import type { RoutingTableFile } from '../../gateway/router/routing-table.schema.js';
import { startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// The real bus end to end: router → NATS → worker → fake Ollama (the only double), and back.
const stack = await startStack();
t.teardown(() => stack.close());
const subjects = subjectsFor(stack.config.subjectPrefix);
const shipped = JSON.parse(readFileSync(DEFAULT_ROUTING_FILE, 'utf8')) as RoutingTableFile;
// Generous, so a loaded machine still classifies in time; the test of the timeout itself uses
// a short one.
const TIMEOUT_MS = 10_000;
const SHORT_TIMEOUT_MS = 300;
const tableWith = (timeoutMs: number) =>
  createRoutingTable(
    { ...shipped, classifier: { agent: 'documentation', timeout_ms: timeoutMs, enabled: true } },
    stack.catalog,
  );
const classifierDeps = { bus: stack.bus, subjects, tenant: 'router', heartbeatMs: stack.config.heartbeatMs };
const routerOn = (deps: typeof classifierDeps, timeoutMs = TIMEOUT_MS): Router =>
  createRouter({
    table: tableWith(timeoutMs),
    catalog: stack.catalog,
    classify: createClassifier(deps),
    log: stack.app.log,
  });
const router = routerOn(classifierDeps);
const UNMATCHED = 'What is the capital of France?';

// Every envelope the classifier publishes, as the bus carried it (a plain subscriber beside the worker's queue group).
const envelopes: ChatRequest[] = [];
const watcher = stack.bus.subscribe(subjects.allChat, {
  callback: (_err, msg) => {
    const envelope = decodeChatRequest(msg.data);
    if (envelope.request_id.startsWith('route-')) envelopes.push(envelope);
  },
});
t.teardown(() => watcher.unsubscribe());
// Every cancel announced to the workers: the classifier sends one when it closes a call itself.
const cancels: CancelRequest[] = [];
const cancelWatcher = stack.bus.subscribe(subjects.allCancel, {
  callback: (_err, msg) => cancels.push(decodeCancelRequest(msg.data)),
});
t.teardown(() => cancelWatcher.unsubscribe());
await stack.bus.flush();

t.test('the model names an agent: the classifier decides', async (t) => {
  stack.ollama.behave({ tokens: ['code', '_review'] });
  const before = stack.ollama.requests.length;
  const decision = await router.route(UNMATCHED);
  t.same(decision, {
    agents: ['code_review'],
    by: 'classifier',
    reason: 'no rule matched; classifier documentation chose code_review',
  });
  t.equal(stack.ollama.requests.length, before + 1, 'one model call');
  const sent = stack.ollama.requests.at(-1)!;
  t.match(sent.options, { temperature: 0, num_predict: 16 }, 'deterministic and short');
  t.match(
    sent.messages.find((m) => m.content.includes('request router'))?.content,
    /- code_review: Reviews code/,
    'the prompt lists the agents with their descriptions',
  );
  t.equal(sent.messages.at(-1)!.content, UNMATCHED, 'the user text is the last message');

  const envelope = envelopes.at(-1)!;
  t.ok(isChatRequest(envelope), 'a valid bus envelope');
  t.match(envelope, {
    intent: 'documentation',
    store: false,
    stream: false,
    options: { temperature: 0, max_tokens: 16 },
    timeout_ms: TIMEOUT_MS,
    tenant: 'router',
  });
  t.notOk('private' in envelope);
});

t.test('a chatty answer still counts when it names an agent', async (t) => {
  stack.ollama.behave({ tokens: ['The best agent is ', '`Deployment`.'] });
  t.match(await router.route(UNMATCHED), { agents: ['deployment'], by: 'classifier' });
});

t.test('an answer naming no agent: the default agent, and why', async (t) => {
  stack.ollama.behave({ tokens: ['I am not sure what you mean by that, sorry about it.'] });
  const decision = await router.route(UNMATCHED);
  t.match(decision, {
    agents: ['documentation'],
    by: 'default',
    reason: /^no rule matched; classifier answer "i am not sure what you mean by [^"]*…" names no agent$/,
  });
  t.ok(decision.reason.length < 100, 'the answer is quoted, cut short');
  t.ok(
    stack.logs.lines.some((line) => line['msg'] === 'routing classifier did not decide; the default agent answers'),
    'logged as a warning',
  );
});

t.test('a slow model: the default agent after timeout_ms, and the model call is aborted', async (t) => {
  // The model answers nothing until released: the decision cannot come from it.
  stack.ollama.behave({ tokens: ['testing'] });
  const release = stack.ollama.hold();
  t.teardown(release);
  const started = Date.now();
  const decision = await routerOn(classifierDeps, SHORT_TIMEOUT_MS).route(UNMATCHED);
  const took = Date.now() - started;
  t.same(decision, {
    agents: ['documentation'],
    by: 'default',
    reason: `no rule matched; classifier timed out after ${SHORT_TIMEOUT_MS} ms`,
  });
  t.ok(took >= SHORT_TIMEOUT_MS - 20, `decided in ${took} ms, not before timeout_ms`);
  // The classifier's own timer closed the call and told the worker why; the bus call's backup
  // deadline (timeout_ms + 1 s) would have given its REQUEST_TIMEOUT_MS message instead.
  const envelope = envelopes.at(-1)!;
  await waitFor('the cancel of the classifier call', () => cancels.some((c) => c.request_id === envelope.request_id));
  const cancel = cancels.find((c) => c.request_id === envelope.request_id);
  t.match(cancel, { reason: /timeout/i }, 'the classifier closed the call at timeout_ms');
  t.notMatch(cancel?.reason, /REQUEST_TIMEOUT_MS/, 'not the bus deadline that backs it up');
  const sent = stack.ollama.requests.at(-1)!;
  await waitFor('the fake Ollama to see its request aborted', () => sent.aborted);
  t.ok(sent.aborted, 'the worker abandoned the model call');
  release();
});

t.test('a private request keeps its classification private', async (t) => {
  stack.ollama.behave({ tokens: ['testing'] });
  const decision = await router.route(UNMATCHED, { private: true });
  t.match(decision, { agents: ['testing'], by: 'classifier' });
  t.equal(envelopes.at(-1)!.private, true, 'private: true on the classifier envelope');
});

t.test('the client goes away mid-classification: route rejects and the model call stops', async (t) => {
  stack.ollama.behave({ tokens: ['testing'], firstTokenDelayMs: 30_000 });
  const controller = new AbortController();
  const before = stack.ollama.requests.length;
  const routed = router.route(UNMATCHED, { signal: controller.signal });
  await waitFor('the model call to start', () => stack.ollama.requests.length > before);
  const sent = stack.ollama.requests.at(-1)!;
  controller.abort();
  await t.rejects(routed, { code: 'request_cancelled' });
  await waitFor('the fake Ollama to see its request aborted', () => sent.aborted);
  t.ok(sent.aborted, 'the worker abandoned the model call');
  await t.rejects(
    router.route(UNMATCHED, { signal: AbortSignal.abort() }),
    { code: 'request_cancelled' },
    'an already aborted signal never reaches the bus',
  );
});

t.test('no worker serves the classifier agent: the default agent at once', async (t) => {
  const decision = await routerOn({ ...classifierDeps, subjects: subjectsFor('nobody-here') }).route(UNMATCHED);
  // no_worker, not "timed out": decided on NATS's no-responders answer, with no wait for the timeout.
  t.same(decision, {
    agents: ['documentation'],
    by: 'default',
    reason: 'no rule matched; classifier documentation failed (no_worker)',
  });
});

t.test('a rule match never calls the classifier', async (t) => {
  const before = stack.ollama.requests.length;
  t.match(await router.route('write a Dockerfile'), { by: 'rule', rule: 'deployment' });
  t.equal(stack.ollama.requests.length, before);
});

t.test('store:false: the classifier calls leave no session and no turn', async (t) => {
  // Every test above published classifier envelopes; none may have been stored.
  t.ok(envelopes.length >= 5, `${envelopes.length} classifier calls made`);
  t.ok(
    envelopes.every((envelope) => envelope.store === false),
    'every one sent with store: false',
  );
  const turns = await stack.db
    .selectFrom('turns')
    .select('request_id')
    .where('request_id', 'like', 'route-%')
    .execute();
  const sessions = await stack.db.selectFrom('sessions').select('id').where('tenant', '=', 'router').execute();
  t.same(turns, [], 'no turn stored');
  t.same(sessions, [], 'no session created');
});
