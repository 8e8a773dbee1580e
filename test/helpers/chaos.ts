import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import type { MemoryDatabase } from '../../workers/memory/schema.js';
import { startFakeOllama, type FakeOllama, type RecordedChatRequest } from './fake-ollama.js';
import {
  startGatewayProcess,
  startRestartableNats,
  startWorkerProcess,
  type RestartableNats,
  type TestProcess,
} from './processes.js';
import { AUTH } from './stack.js';
import { sleep, waitUntil } from './wait.js';
import { startWatchdog, type Watchdog } from './watchdog.js';

// A whole stack of real processes for fault runs (docs/operations.md, "Reliability"): a
// nats-server, worker processes each on its own fake Ollama (so the fake that holds a request
// names the worker that holds it), a gateway process, and one SQLite database; clients that
// record exactly what they received; and the reconciliation of those records against memory.

/** Every answer ends with this token: a client that has read it has every token but not `[DONE]`. */
export const LAST_TOKEN = ' END.';

/** The agent the clients talk to. */
export const AGENT = 'code_review';

export interface ChaosWorker {
  ollama: FakeOllama;
  process: TestProcess;
}

export interface ChaosStack {
  nats: RestartableNats;
  workers: ChaosWorker[];
  gateway: TestProcess;
  readonly baseUrl: string;
  dataDir: string;
  /** The memory database, read by the test (the workers have their own connections). */
  db: Kysely<MemoryDatabase>;
  watchdog: Watchdog;
  /** Makes later answers this many tokens long (plus the first two and the last). */
  setFillerTokens(n: number): void;
  /** Every chat request any fake received, across all of them. */
  modelRequests(): RecordedChatRequest[];
  /** Model calls still open at the fakes (not ended, not aborted). */
  openModelCalls(): RecordedChatRequest[];
  /** SIGKILLs worker `i` (waking it first if stopped); `restartWorker` starts it again. */
  killWorker(i: number): Promise<void>;
  restartWorker(i: number): Promise<void>;
  signalWorker(i: number, signal: NodeJS.Signals): void;
  killGateway(): Promise<void>;
  restartGateway(): Promise<void>;
  killNats(): Promise<void>;
  restartNats(): Promise<void>;
  close(): Promise<void>;
}

export interface ChaosOptions {
  workers?: number;
  /** Each answer's tokens after the first and before {@link LAST_TOKEN}. */
  fillerTokens?: number;
  tokenDelayMs?: number;
  gatewayEnv?: Record<string, string>;
}

/** The user prompt of the last message a model call was asked. */
export const promptOf = (request: RecordedChatRequest) =>
  request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';

export async function startChaosStack(options: ChaosOptions = {}): Promise<ChaosStack> {
  const watchdog = startWatchdog();
  const nats = await startRestartableNats();
  watchdog.track(nats.pid);
  const dataDir = mkdtempSync(join(tmpdir(), 'agentbus-chaos-'));
  let filler = options.fillerTokens ?? 8;
  const ollamas: FakeOllama[] = [];
  for (let i = 0; i < (options.workers ?? 2); i++) {
    const ollama = await startFakeOllama();
    // Each answer is unique to its model call (the fake, its request number and the prompt), so a
    // stored text from another attempt of the same request never passes for the one delivered.
    ollama.behave({
      tokensFor: (request, n) => [
        `w${i}#${n} `,
        `re(${promptOf(request)})`,
        ...Array.from({ length: filler }, (_, k) => ` t${k}`),
        LAST_TOKEN,
      ],
      tokens: [],
      tokenDelayMs: options.tokenDelayMs ?? 40,
      // A client that leaves on the last token leaves well before `done` exists, even on a loaded machine.
      endDelayMs: 300,
    });
    ollamas.push(ollama);
  }
  const common = {
    NATS_URL: nats.url,
    DATA_DIR: dataDir,
    LOG_DIR: join(dataDir, 'logs'),
    DEFAULT_MODEL: 'llama3.2',
    CACHE_TTL_SECONDS: '0',
    LOG_LEVEL: 'info',
    // Room for every client at once: these runs are about faults, not admission.
    MAX_INFLIGHT: '16',
  };
  const keepLog = (name: string, started: TestProcess) => {
    started.exited
      .then(() => {
        watchdog.untrack(started.child.pid);
        // CHAOS_DEBUG=1 keeps each process's log in the temp folder, to find a violation's cause.
        if (process.env['CHAOS_DEBUG'])
          writeFileSync(join(tmpdir(), `chaos-${name}-${started.child.pid}.log`), started.output());
      })
      .catch(() => undefined);
  };
  const startWorker = async (ollama: FakeOllama) => {
    const started = await startWorkerProcess({ ...common, OLLAMA_URL: ollama.url }, [AGENT]);
    watchdog.track(started.child.pid);
    keepLog('worker', started);
    return started;
  };
  const startGateway = async () => {
    const started = await startGatewayProcess({
      ...common,
      // A worker silent for 1 s (the floor of 3 × HEARTBEAT_MS) is lost.
      HEARTBEAT_MS: '200',
      REQUEST_TIMEOUT_MS: '20000',
      ...options.gatewayEnv,
    });
    watchdog.track(started.child.pid);
    keepLog('gateway', started);
    return started;
  };
  // The first worker migrates the database; the others and the gateway start together after it.
  const first: ChaosWorker = { ollama: ollamas[0]!, process: await startWorker(ollamas[0]!) };
  const [rest, started] = await Promise.all([
    Promise.all(ollamas.slice(1).map(async (ollama) => ({ ollama, process: await startWorker(ollama) }))),
    startGateway(),
  ]);
  const workers: ChaosWorker[] = [first, ...rest];
  let gateway = started;
  const db = openMemoryDatabase(memoryDatabasePath(dataDir));

  const stack: ChaosStack = {
    nats,
    workers,
    get gateway() {
      return gateway;
    },
    get baseUrl() {
      return String(gateway.ready['url']);
    },
    dataDir,
    db,
    watchdog,
    setFillerTokens: (n) => {
      filler = n;
    },
    modelRequests: () => ollamas.flatMap((o) => o.requests),
    openModelCalls: () => ollamas.flatMap((o) => o.requests.filter((r) => r.endedAt === undefined)),
    async killWorker(i) {
      const child = workers[i]!.process.child;
      child.kill('SIGCONT');
      await workers[i]!.process.kill();
    },
    async restartWorker(i) {
      workers[i]!.process = await startWorker(workers[i]!.ollama);
    },
    signalWorker(i, signal) {
      workers[i]!.process.child.kill(signal);
    },
    async killGateway() {
      await gateway.kill();
    },
    async restartGateway() {
      gateway = await startGateway();
    },
    async killNats() {
      watchdog.untrack(nats.pid);
      await nats.kill();
    },
    async restartNats() {
      await nats.start();
      watchdog.track(nats.pid);
    },
    async close() {
      for (const w of workers) w.process.child.kill('SIGCONT');
      nats.signal('SIGCONT');
      // Nothing is left to observe: SIGKILL is the quick way out (a drain would wait for clients).
      await gateway.kill();
      for (const w of workers) await w.process.kill();
      await db.destroy();
      for (const o of ollamas) await o.close();
      await nats.dispose();
      watchdog.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** What one client request ended with, as the client saw it. */
export interface Outcome {
  conversation: string;
  turn: number;
  prompt: string;
  mode: 'sse' | 'json';
  /** complete: the whole answer (JSON 200, or SSE through `[DONE]`); aborted: the client left on purpose. */
  kind: 'complete' | 'error' | 'cut' | 'aborted';
  /** The session the request was sent with (undefined: a new conversation). */
  sentSession: string | undefined;
  /** The conversation the gateway named (`x-session-id`), when headers arrived. */
  session: string | undefined;
  requestId: string | undefined;
  text: string;
  status?: number;
  code?: string;
  endedAt: number;
}

export interface AskOptions {
  mode: 'sse' | 'json';
  conversation: string;
  turn: number;
  session: string | undefined;
  /** SSE only: once every token arrived and `[DONE]` has not, abort (a client leaving at the last moment). */
  abortBeforeDone?: boolean;
  /** Called once the client holds every token of the answer but not its end (SSE). */
  onLastToken?: () => void | Promise<void>;
  timeoutMs?: number;
}

/** One chat request, recorded as the client experienced it; never throws. */
export async function ask(baseUrl: string, options: AskOptions): Promise<Outcome> {
  const prompt = `${options.conversation} turn ${options.turn}`;
  const outcome: Outcome = {
    conversation: options.conversation,
    turn: options.turn,
    prompt,
    mode: options.mode,
    kind: 'cut',
    sentSession: options.session,
    session: undefined,
    requestId: undefined,
    text: '',
    endedAt: 0,
  };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('client bound')), options.timeoutMs ?? 40_000);
  try {
    const res = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: options.session ? { ...AUTH, 'x-session-id': options.session } : AUTH,
      body: JSON.stringify({
        model: AGENT,
        stream: options.mode === 'sse',
        messages: [{ role: 'user', content: prompt }],
      }),
      signal: controller.signal,
    });
    outcome.status = res.status;
    outcome.session = res.headers.get('x-session-id') ?? undefined;
    outcome.requestId = res.headers.get('x-request-id') ?? undefined;
    if (options.mode === 'json' || res.status !== 200 || !res.headers.get('content-type')?.includes('event-stream')) {
      const body = (await res.json()) as {
        id?: string;
        error?: { code?: string };
        choices?: Array<{ message: { content: string } }>;
      };
      if (res.status === 200 && body.choices) {
        outcome.kind = 'complete';
        outcome.text = body.choices[0]!.message.content;
        outcome.requestId = body.id ?? outcome.requestId;
      } else {
        outcome.kind = 'error';
        outcome.code = body.error?.code;
      }
      return outcome;
    }
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let lastTokenSeen = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      // Every whole event received so far, [DONE] included, before deciding to leave.
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: ?(.*)$/m.exec(block)?.[1];
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).replace(/^ /, ''))
          .join('\n');
        if (!data) continue;
        if (data === '[DONE]') {
          outcome.kind = 'complete';
          continue;
        }
        const json = JSON.parse(data) as {
          id?: string;
          error?: { code?: string };
          choices?: Array<{ delta?: { content?: string } }>;
        };
        if (event === 'error' || json.error) {
          outcome.kind = 'error';
          outcome.code = json.error?.code;
          continue;
        }
        outcome.requestId ??= json.id;
        outcome.text += json.choices?.[0]?.delta?.content ?? '';
      }
      if (outcome.kind === 'complete' || outcome.kind === 'error') continue;
      if (!lastTokenSeen && outcome.text.endsWith(LAST_TOKEN)) {
        lastTokenSeen = true;
        await options.onLastToken?.();
        if (options.abortBeforeDone) {
          outcome.kind = 'aborted';
          controller.abort(new Error('client left before [DONE]'));
          return outcome;
        }
      }
    }
    return outcome;
  } catch {
    // A reset connection (gateway killed), or the client's own bound.
    if (outcome.kind !== 'aborted' && outcome.kind !== 'error') outcome.kind = 'cut';
    return outcome;
  } finally {
    clearTimeout(timer);
    outcome.endedAt = performance.now();
  }
}

export interface ConversationOptions {
  turns: number;
  /** SSE or JSON for each turn. */
  mode(turn: number): 'sse' | 'json';
  abortBeforeDone?(turn: number): boolean;
  /** Stops starting turns when true. */
  stop(): boolean;
  baseUrl(): string;
  /** Pause between turns (the pace of a user, not a wait for anything). */
  thinkMs?: number;
}

/** One client's conversation: turn after turn, each continuing the conversation its last complete answer named. */
export async function converse(name: string, options: ConversationOptions, outcomes: Outcome[]): Promise<void> {
  let session: string | undefined;
  for (let turn = 1; turn <= options.turns && !options.stop(); turn++) {
    const outcome = await ask(options.baseUrl(), {
      mode: options.mode(turn),
      conversation: name,
      turn,
      session,
      abortBeforeDone: options.abortBeforeDone?.(turn) ?? false,
    });
    outcomes.push(outcome);
    if (outcome.kind === 'complete') session ??= outcome.session;
    if (options.thinkMs) await sleep(options.thinkMs);
  }
}

/** The reconciliation of client outcomes against memory. */
export interface Reconciliation {
  requests: number;
  complete: number;
  errors: number;
  cut: number;
  aborted: number;
  codes: Record<string, number>;
  committed: number;
  /** Pending turns left once the wait for them ended (never history; swept by the workers' sweeps). */
  pending: number;
  lost: string[];
  duplicated: string[];
  phantom: string[];
  mismatched: string[];
  misordered: string[];
  /** `/memory/last` disagreed with the delivered answers of a conversation. */
  apiMismatched: string[];
  /** Model calls whose replayed history was not exactly the conversation's delivered turns, in order. */
  badPrompts: string[];
  promptsChecked: number;
}

/** Waits (bounded) until no turn is pending: every receipt has been answered or given up. */
export async function settled(db: Kysely<MemoryDatabase>, maxWaitMs = 30_000): Promise<void> {
  await waitUntil(async () => {
    const rows = await db.selectFrom('turns').select('id').where('state', '=', 'pending').limit(1).execute();
    return rows.length === 0;
  }, maxWaitMs);
}

/**
 * Reconciles `outcomes` against the turns table, `/memory/last` and the prompts the models got:
 * every complete answer committed once, with the text the client received, in delivery order;
 * nothing committed that a client did not receive whole; every model call replayed exactly the
 * delivered turns of its conversation before it.
 */
export async function reconcile(
  stack: Pick<ChaosStack, 'db' | 'baseUrl' | 'modelRequests'>,
  outcomes: Outcome[],
  /** Which stored turns the run is about (by prompt), when the database holds others too. */
  inScope: (userInput: string) => boolean = () => true,
): Promise<Reconciliation> {
  await settled(stack.db);
  const rows = (
    await stack.db
      .selectFrom('turns')
      .select(['request_id', 'session_id', 'state', 'commit_seq', 'assistant_response', 'user_input'])
      .execute()
  ).filter((row) => inScope(row.user_input));
  const committed = rows.filter((r) => r.state === 'committed');
  const complete = outcomes.filter((o) => o.kind === 'complete');
  const byRequest = new Map(committed.map((r) => [r.request_id, r]));
  const codes: Record<string, number> = {};
  for (const o of outcomes) if (o.kind !== 'complete') codes[o.code ?? o.kind] = (codes[o.code ?? o.kind] ?? 0) + 1;

  const lost = complete.filter((o) => !o.requestId || !byRequest.has(o.requestId)).map((o) => o.prompt);
  const mismatched = complete
    .filter((o) => {
      const row = o.requestId ? byRequest.get(o.requestId) : undefined;
      return row && (row.assistant_response !== o.text || row.session_id !== o.session || row.user_input !== o.prompt);
    })
    .map((o) => o.prompt);
  const delivered = new Set(complete.map((o) => o.requestId));
  const phantom = committed.filter((r) => !delivered.has(r.request_id)).map((r) => `${r.user_input} (${r.request_id})`);
  const prompts = new Map<string, number>();
  for (const r of committed) prompts.set(r.user_input, (prompts.get(r.user_input) ?? 0) + 1);
  const duplicated = [...prompts].filter(([, n]) => n > 1).map(([p]) => p);

  // Delivery order per conversation: a conversation's turns are sequential, so the order its client got them.
  const sessions = new Map<string, Outcome[]>();
  for (const o of [...complete].sort((a, b) => a.endedAt - b.endedAt)) {
    if (!o.session) continue;
    sessions.set(o.session, [...(sessions.get(o.session) ?? []), o]);
  }
  const misordered: string[] = [];
  const apiMismatched: string[] = [];
  for (const [session, list] of sessions) {
    const stored = committed
      .filter((r) => r.session_id === session)
      .sort((a, b) => (a.commit_seq ?? 0) - (b.commit_seq ?? 0))
      .map((r) => r.request_id);
    const expected = list.map((o) => o.requestId);
    const both = stored.filter((id) => expected.includes(id));
    if (both.join() !== expected.filter((id) => both.includes(id!)).join()) misordered.push(session);
    const res = await fetch(`${stack.baseUrl}/memory/last?session=${session}&limit=100`, { headers: AUTH });
    const body = (await res.json()) as { data?: Array<{ request_id: string; assistant_response: string }> };
    const api = (body.data ?? []).reverse();
    if (
      res.status !== 200 ||
      api.map((turn) => turn.request_id).join() !== expected.join() ||
      api.some((turn, i) => turn.assistant_response !== list[i]?.text)
    )
      apiMismatched.push(session);
  }

  // Each model call's history: the delivered turns of its conversation before it, in order.
  const byPrompt = new Map(outcomes.map((o) => [o.prompt, o]));
  const badPrompts: string[] = [];
  let promptsChecked = 0;
  for (const request of stack.modelRequests()) {
    const outcome = byPrompt.get(promptOf(request));
    if (!outcome) continue;
    promptsChecked++;
    const history = request.messages.filter((m) => m.role !== 'system').slice(0, -1);
    const delivered = outcome.sentSession ? (sessions.get(outcome.sentSession) ?? []) : [];
    const messagesOf = (turns: Outcome[]) =>
      turns.flatMap((o) => [
        { role: 'user', content: o.prompt },
        { role: 'assistant', content: o.text },
      ]);
    const expected = JSON.stringify(messagesOf(delivered.filter((o) => o.turn < outcome.turn)));
    const got = history.map((m) => ({ role: m.role, content: m.content }));
    // A request its client gave up on (a worker stopped while holding it) may reach its model call
    // late, after the conversation went on: its answer goes nowhere, and the turns it replays are
    // still delivered ones, in order, from the first.
    const late =
      outcome.kind !== 'complete' &&
      got.length > 0 &&
      JSON.stringify(got) === JSON.stringify(messagesOf(delivered).slice(0, got.length));
    if (JSON.stringify(got) !== expected && !late)
      badPrompts.push(`${outcome.prompt}: got [${got.map((m) => m.content.slice(0, 24)).join(' | ')}]`);
  }

  return {
    requests: outcomes.length,
    complete: complete.length,
    errors: outcomes.filter((o) => o.kind === 'error').length,
    cut: outcomes.filter((o) => o.kind === 'cut').length,
    aborted: outcomes.filter((o) => o.kind === 'aborted').length,
    codes,
    committed: committed.length,
    pending: rows.length - committed.length,
    lost,
    duplicated,
    phantom,
    mismatched,
    misordered,
    apiMismatched,
    badPrompts,
    promptsChecked,
  };
}

/** The figures of a run, one line, for the test's output and docs/operations.md. */
export function summary(name: string, r: Reconciliation, faults: string): string {
  const codes = Object.entries(r.codes)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  return (
    `${name}: ${r.requests} requests, faults: ${faults}; ${r.complete} complete, ${r.errors} errors, ` +
    `${r.cut} cut, ${r.aborted} aborted (${codes || 'none'}); committed ${r.committed}, pending ${r.pending}; ` +
    `lost ${r.lost.length}, duplicated ${r.duplicated.length}, phantom ${r.phantom.length}, ` +
    `mismatched ${r.mismatched.length}, misordered ${r.misordered.length}, /memory/last ${r.apiMismatched.length}, ` +
    `bad prompts ${r.badPrompts.length} of ${r.promptsChecked}`
  );
}

/** Asserts the reconciliation is clean, naming what is not. */
export function assertReconciled(
  t: { same(a: unknown, b: unknown, msg: string): void; ok(v: unknown, msg: string): void },
  r: Reconciliation,
): void {
  t.same(r.lost, [], 'lost: every complete answer is committed');
  t.same(r.duplicated, [], 'duplicated: no prompt committed twice');
  t.same(r.phantom, [], 'phantom: nothing committed that its client did not receive whole');
  t.same(r.mismatched, [], 'mismatched: the stored text is the text the client received');
  t.same(r.misordered, [], 'misordered: history order is delivery order');
  t.same(r.apiMismatched, [], '/memory/last shows exactly the delivered turns, in order');
  t.same(r.badPrompts, [], 'every prompt replayed exactly the delivered turns before it, in order');
  t.ok(r.promptsChecked > 0, 'prompts were checked');
}
