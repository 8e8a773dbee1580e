import t from 'tap';
import { startFakeOllama } from '../../helpers/fake-ollama.js';
import { startTestNats } from '../../helpers/nats.js';
import { startGatewayProcess, startWorkerProcess, testStackEnv, type TestProcess } from '../../helpers/processes.js';
import { parseSse } from '../../helpers/sse.js';
import { AUTH, startStack } from '../../helpers/stack.js';
import { traceLinesOf } from '../../helpers/trace-lines.js';
import { waitFor } from '../../helpers/wait.js';
import { loadWorkerConfig } from '../../../workers/config.js';
import { openMigratedMemory } from '../../../workers/memory/open.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const body = (stream: boolean, content = 'explain') =>
  JSON.stringify({ model: 'code_review', stream, messages: [{ role: 'user', content }] });

/**
 * Waits (bounded) for `process` to exit. The bound is far below what an exit held up by a
 * timeout would take (GATEWAY_DRAIN_TIMEOUT_MS 30 s below, keep-alive's 72 s), so a wait for
 * one of those fails here.
 */
async function exitOf(process: TestProcess): Promise<number | null> {
  const { child } = process;
  await waitFor('the process to exit', () => child.exitCode !== null || child.signalCode !== null, 10_000);
  return process.exited;
}

/** The answer to `req` (status, headers, body), or the error of a connection closed without one. */
function answerOf(req: ClientRequest): Promise<{ status: number; headers: IncomingHttpHeaders; text: string } | Error> {
  return new Promise((resolve) => {
    req.once('error', resolve);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.once('error', resolve);
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
  });
}

/** Reads an SSE response until a content delta arrived; returns the text so far and the reader. */
async function untilFirstToken(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!/"content":"t\d/.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return {
    async rest() {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
        if (done) return text;
        text += decoder.decode(value, { stream: true });
      }
    },
  };
}

t.test('SIGTERM on the gateway process: no new connections, open SSE streams finish, then it exits', async (t) => {
  const nats = await startTestNats();
  const ollama = await startFakeOllama();
  const dataDir = mkdtempSync(join(tmpdir(), 'agentbus-data-'));
  const env = {
    ...testStackEnv(nats.url, ollama.url, dataDir),
    HEARTBEAT_MS: '200',
    // Unless a test sets its own: an exit that waited for it would miss exitOf's bound.
    GATEWAY_DRAIN_TIMEOUT_MS: '30000',
  };
  const started: TestProcess[] = [];
  t.teardown(async () => {
    for (const p of started) await p.stop();
    await ollama.close();
    await nats.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });
  started.push(await startWorkerProcess(env, ['code_review']));

  await t.test('a stream open at SIGTERM completes with [DONE]', async (t) => {
    const gateway = await startGatewayProcess(env);
    started.push(gateway);
    const url = gateway.ready['url'] as string;
    const tokens = Array.from({ length: 30 }, (_, i) => `t${i} `);
    ollama.behave({ tokens, tokenDelayMs: 100 });
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: AUTH, body: body(true) });
    const requestId = res.headers.get('x-request-id');
    const stream = await untilFirstToken(res);
    gateway.child.kill('SIGTERM');
    let streamEnded = false;
    const rest = stream.rest().then((text) => {
      streamEnded = true;
      return text;
    });
    let refused = '';
    await waitFor('the gateway to refuse a new request', async () => {
      refused = await fetch(`${url}/health`).then(
        (r) => `HTTP ${r.status}`,
        (err: Error) => (err.cause as NodeJS.ErrnoException)?.code ?? err.message,
      );
      return /ECONNREFUSED|ECONNRESET|HTTP 503/.test(refused);
    });
    t.pass(`a new request is not served (${refused})`);
    t.notOk(streamEnded, 'refused while the open stream was still running');
    const { events } = parseSse(await rest);
    t.equal(events.at(-1)?.data, '[DONE]', 'the open stream finished');
    t.notOk(events.some((e) => e.event === 'error'));
    const content = events
      .filter((e) => e.data !== '[DONE]')
      .map((e) => JSON.parse(e.data).choices?.[0]?.delta?.content ?? '')
      .join('');
    t.equal(content, tokens.join(''), 'every token arrived');
    t.equal(await exitOf(gateway), 0, 'exit 0, once the stream ended: no drain timeout or idle keep-alive held it');
    t.notMatch(gateway.output(), /GATEWAY_DRAIN_TIMEOUT_MS: closing them/, 'drained in time, nothing was cut');
    const traced = traceLinesOf(env.LOG_DIR, 'code_review').filter((line) => line.request_id === requestId);
    t.match(traced, [{ status: 200 }], 'its trace line was written before the log closed');
  });

  await t.test(
    'GATEWAY_DRAIN_TIMEOUT_MS bounds the wait: a longer stream is cut (no [DONE]) and the gateway exits',
    async (t) => {
      const gateway = await startGatewayProcess({ ...env, GATEWAY_DRAIN_TIMEOUT_MS: '500' });
      started.push(gateway);
      ollama.behave({ tokens: Array.from({ length: 50 }, (_, i) => `t${i} `), tokenDelayMs: 100 });
      const res = await fetch(`${gateway.ready['url'] as string}/v1/chat/completions`, {
        method: 'POST',
        headers: AUTH,
        body: body(true),
      });
      const requestId = res.headers.get('x-request-id');
      const stream = await untilFirstToken(res);
      const signalledAt = Date.now();
      gateway.child.kill('SIGTERM');
      const { events } = parseSse(await stream.rest());
      // 50 tokens take 5 s: without the cut, [DONE] would have come.
      t.notOk(
        events.some((e) => e.data === '[DONE]'),
        'the cut stream does not look complete',
      );
      t.notOk(
        events.some((e) => e.event === 'error'),
        'cut, as before: not ended with an error event',
      );
      t.equal(await exitOf(gateway), 0, 'exit 0');
      const elapsed = Date.now() - signalledAt;
      t.ok(elapsed >= 400, `exited ${elapsed} ms after SIGTERM, not before the drain timeout`);
      t.match(gateway.output(), /GATEWAY_DRAIN_TIMEOUT_MS: closing them/, 'cut at GATEWAY_DRAIN_TIMEOUT_MS');
      const traced = traceLinesOf(env.LOG_DIR, 'code_review').filter((line) => line.request_id === requestId);
      // The cut call ends as the gateway stops: the trace log waits for it (gateway/call/open-calls.ts).
      t.match(traced, [{ status: 503, error: 'bus_unavailable' }], 'the cut stream has its trace line');
    },
  );

  await t.test(
    'a non-streamed answer not ready at GATEWAY_DRAIN_TIMEOUT_MS: 503 bus_unavailable, the worker cancels',
    async (t) => {
      const gateway = await startGatewayProcess({ ...env, GATEWAY_DRAIN_TIMEOUT_MS: '500' });
      started.push(gateway);
      // The model's answer would take 5 s: still being made at the deadline.
      ollama.behave({ tokens: ['late'], firstTokenDelayMs: 5000, tokenDelayMs: 0 });
      const sent = ollama.requests.length;
      const pending = fetch(`${gateway.ready['url'] as string}/v1/chat/completions`, {
        method: 'POST',
        headers: AUTH,
        body: body(false, 'drain deadline'),
      }).catch((err: Error) => err);
      await waitFor('the request to reach the model', () => ollama.requests.length > sent);
      gateway.child.kill('SIGTERM');
      const res = await pending;
      // Without an answer of its own the connection closed empty: fetch failed ("other side closed").
      if (!(res instanceof Response)) throw new Error(`no answer, the connection was closed: ${String(res.cause)}`);
      t.equal(res.status, 503);
      t.match(await res.json(), {
        error: { type: 'server_error', code: 'bus_unavailable', message: /shut down before this answer was ready/ },
      });
      t.equal(res.headers.get('x-should-retry'), 'true', 'the SDKs retry it');
      t.ok(res.headers.get('retry-after'), 'retry-after');
      t.equal(res.headers.get('connection'), 'close');
      const requestId = res.headers.get('x-request-id');
      t.ok(requestId, 'named as every answer');
      t.equal(await exitOf(gateway), 0, 'exit 0');
      const traced = traceLinesOf(env.LOG_DIR, 'code_review').filter((line) => line.request_id === requestId);
      t.match(traced, [{ status: 503, error: 'bus_unavailable' }], 'traced as what its client was told');
      t.equal(ollama.requests.length, sent + 1, 'not retried by the stopping gateway');
      await waitFor('the backend request to be aborted', () => ollama.requests.at(-1)!.aborted);
      const { db } = await openMigratedMemory(loadWorkerConfig(env).memory);
      t.teardown(() => db.destroy());
      const stored = await db
        .selectFrom('turns')
        .select('id')
        .where('input_messages', 'like', '%drain deadline%')
        .execute();
      t.same(stored, [], 'the unanswered question is not in memory');
    },
  );

  await t.test(
    'a call opened after GATEWAY_DRAIN_TIMEOUT_MS (its body still arriving then): 503 bus_unavailable at once',
    async (t) => {
      const gateway = await startGatewayProcess({ ...env, GATEWAY_DRAIN_TIMEOUT_MS: '500' });
      started.push(gateway);
      // Were it asked, the worker would still be making it when the connection is closed.
      ollama.behave({ tokens: ['late'], firstTokenDelayMs: 5000, tokenDelayMs: 0 });
      const sent = ollama.requests.length;
      const payload = Buffer.from(body(false, 'opened after the deadline'));
      const { port } = new URL(gateway.ready['url'] as string);
      const headers = { ...AUTH, 'content-length': payload.length, expect: '100-continue' };
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', headers });
      const answered = answerOf(req);
      // 100 Continue comes once the request is admitted and its body about to be read: in progress at SIGTERM.
      await new Promise((resolve) => req.once('continue', resolve));
      req.write(payload.subarray(0, 10));
      gateway.child.kill('SIGTERM');
      // The deadline's walk has failed every inbox then open: the call is opened after it.
      await waitFor('the drain deadline', () => /GATEWAY_DRAIN_TIMEOUT_MS: closing them/.test(gateway.output()));
      req.end(payload.subarray(10));
      const res = await answered;
      // Without an answer of its own the connection was closed empty ("socket hang up").
      if (res instanceof Error) throw new Error(`no answer, the connection was closed: ${res.message}`);
      t.equal(res.status, 503);
      t.match(JSON.parse(res.text), {
        error: { code: 'bus_unavailable', message: /shut down before this answer was ready/ },
      });
      t.equal(res.headers['connection'], 'close');
      t.equal(await exitOf(gateway), 0, 'exit 0');
      t.equal(ollama.requests.length, sent, 'no worker was asked to make it for nobody');
    },
  );

  await t.test(
    'a fan-out with one part finished at GATEWAY_DRAIN_TIMEOUT_MS: 503 "nothing was stored", and no part is',
    async (t) => {
      const routingFile = join(dataDir, 'routing.json');
      const rule = { name: 'pair', agents: ['code_review', 'documentation'], keywords: ['pair'] };
      writeFileSync(routingFile, JSON.stringify({ default: 'code_review', rules: [rule] }));
      const worker = await startWorkerProcess(env, ['documentation']);
      started.push(worker);
      const gateway = await startGatewayProcess({ ...env, ROUTING_FILE: routingFile, GATEWAY_DRAIN_TIMEOUT_MS: '500' });
      started.push(gateway);
      const { db } = await openMigratedMemory(loadWorkerConfig(env).memory);
      t.teardown(() => db.destroy());
      const rows = () =>
        db
          .selectFrom('turns')
          .select(['request_id', 'state'])
          .where('input_messages', 'like', '%pair at drain%')
          .execute();
      // The first part to reach the model answers at once; the other would take 5 s.
      ollama.behaveInTurn([{ tokens: ['fast part'] }, { tokens: ['late'], firstTokenDelayMs: 5000 }]);
      const pending = fetch(`${gateway.ready['url'] as string}/v1/chat/completions`, {
        method: 'POST',
        headers: AUTH,
        body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'pair at drain' }] }),
      }).catch((err: Error) => err);
      // Its worker wrote the finished part's turn pending, and waits for the delivery receipt.
      await waitFor('one part to finish', async () => (await rows()).some((row) => row.state === 'pending'));
      gateway.child.kill('SIGTERM');
      const res = await pending;
      if (!(res instanceof Response)) throw new Error(`no answer, the connection was closed: ${String(res.cause)}`);
      t.equal(res.status, 503);
      t.match(await res.json(), { error: { code: 'bus_unavailable', message: /; nothing was stored\. / } });
      t.equal(await exitOf(gateway), 0, 'exit 0');
      await waitFor('the slow part to be aborted', () => ollama.requests.at(-1)!.aborted);
      await waitFor('the finished part to be discarded', async () => (await rows()).length === 0);
      t.pass('neither part is in memory: the client never got the answer');
    },
  );
});

t.test('rolling restart of two worker processes under continuous load: zero failed requests', async (t) => {
  const stack = await startStack({ workerAgents: false });
  const env = {
    NATS_URL: stack.natsUrl,
    OLLAMA_URL: stack.ollama.url,
    DATA_DIR: stack.dataDir,
    DEFAULT_MODEL: 'llama3.2',
    CACHE_TTL_SECONDS: '0',
  };
  const workers = [await startWorkerProcess(env, ['code_review']), await startWorkerProcess(env, ['code_review'])];
  t.teardown(async () => {
    for (const w of workers) await w.stop();
    await stack.close();
  });
  // Answers take ~300 ms, so some are always in flight when a worker is told to stop.
  stack.ollama.behave({ tokens: ['a', 'b', 'c', 'd', 'e', 'f'], tokenDelayMs: 50 });
  const results: Array<{ status: number; stream: boolean; worker?: string; error?: string }> = [];
  let loading = true;
  const client = async (n: number) => {
    // Bounded: 4 clients × at most 200 requests, ended by the flag well before.
    for (let i = 0; loading && i < 200; i++) {
      const stream = (n + i) % 2 === 0;
      const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: AUTH,
        body: body(stream, `req ${n}.${i}`),
      });
      const text = await res.text();
      if (stream) {
        const { events } = parseSse(text);
        const ok = res.status === 200 && events.at(-1)?.data === '[DONE]';
        results.push({ status: ok ? 200 : res.status, stream, ...(ok ? {} : { error: text.slice(-300) }) });
      } else {
        const json = JSON.parse(text);
        results.push({
          status: res.status,
          stream,
          worker: json.meta?.worker,
          ...(res.status === 200 ? {} : { error: text }),
        });
      }
    }
  };
  const load = Promise.all([0, 1, 2, 3].map(client));
  await waitFor('the load to be running', () => results.length >= 4);
  for (const index of [0, 1]) {
    t.equal(await workers[index]!.stop(), 0, `worker ${index} drained and exited 0`);
    workers[index] = await startWorkerProcess(env, ['code_review']);
    // The new worker takes its share before the other one is stopped.
    const id = workers[index].ready['id'] as string;
    await waitFor(`restarted worker ${index} to take work`, () => results.some((r) => r.worker === id));
  }
  loading = false;
  await load;
  const failed = results.filter((r) => r.status !== 200);
  t.ok(results.length >= 20, `${results.length} requests during the restart`);
  t.same(failed, [], 'zero failed requests');
  t.pass('the restarted workers took work');
});
