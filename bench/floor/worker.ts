import { connect, headers, type Msg } from '@nats-io/transport-node';
import Database from 'better-sqlite3';
import { request } from 'undici';

// The floor's worker (BENCHMARKS.md, "Floor of the architecture"): a queue subscriber that calls
// the model as agentbus's worker does — Ollama's `/api/chat` with undici's `request()`, streamed
// NDJSON, read to its `done` line (workers/providers/ollama/chat-stream.ts) — and replies with an
// OpenAI chat completion. With FLOOR_DB, one SQLite INSERT per request first (WAL,
// synchronous=NORMAL, as agentbus's memory; one transaction per event-loop turn, as its group
// commit). With FLOOR_DELIVERY too, the delivery contract's least: the turn is inserted pending,
// the reply names it (header Floor-Turn), and the gateway's receipt on `<subject>.receipt`
// commits it (one UPDATE) and is acknowledged. No memory reads, logs, audit or admission queue.

const subject = process.env['FLOOR_SUBJECT'] ?? 'floor.chat';
const upstream = process.env['OLLAMA_URL']!;
const dbFile = process.env['FLOOR_DB'];
const delivery = dbFile !== undefined && process.env['FLOOR_DELIVERY'] === '1';

const db = dbFile ? new Database(dbFile) : undefined;
db?.pragma('journal_mode = WAL');
db?.pragma('synchronous = NORMAL');
db?.exec(
  'CREATE TABLE IF NOT EXISTS turns ' +
    '(id TEXT PRIMARY KEY, model TEXT, request TEXT, answer TEXT, at INTEGER, state TEXT)',
);
const insert = db?.prepare('INSERT INTO turns (id, model, request, answer, at, state) VALUES (?, ?, ?, ?, ?, ?)');
const commit = db?.prepare("UPDATE turns SET state = 'committed' WHERE id = ? AND state = 'pending'");

interface OllamaLine {
  message?: { content?: string };
  done?: boolean;
  prompt_eval_count?: number;
  eval_count?: number;
}

let seq = 0;

async function answer(msg: Msg): Promise<void> {
  const body = msg.json<{ model: string; messages: unknown[] }>();
  const res = await request(`${upstream}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ model: body.model, messages: body.messages, options: {}, stream: true }),
  });
  res.body.setEncoding('utf8');
  let buffer = '',
    content = '',
    last: OllamaLine = {};
  for await (const chunk of res.body as AsyncIterable<string>) {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') continue;
      last = JSON.parse(line) as OllamaLine;
      content += last.message?.content ?? '';
    }
  }
  if (buffer !== '') content += (last = JSON.parse(buffer) as OllamaLine).message?.content ?? '';
  if (!last.done) throw new Error('the stream ended without its done line');
  const id = `chatcmpl-floor-${process.pid}-${++seq}`;
  const created = Math.floor(Date.now() / 1000);
  const prompt = last.prompt_eval_count ?? 0,
    completion = last.eval_count ?? 0;
  const reply = () => {
    msg.respond(
      JSON.stringify({
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
      }),
      delivery ? { headers: turnHeader(id) } : undefined,
    );
  };
  if (!insert) {
    reply();
    return;
  }
  const state = delivery ? 'pending' : 'committed';
  inBatch(() => insert.run(id, body.model, JSON.stringify(body.messages), content, Date.now(), state), reply);
}

// The writes of one event-loop turn share one transaction, each answered after its COMMIT, as
// agentbus's group commit does (workers/memory/group-commit.ts): the floor pays no COMMIT agentbus avoids.
let batch: Array<{ write: () => void; then: () => void }> = [];

function inBatch(write: () => void, then: () => void): void {
  if (batch.length === 0) setImmediate(commitBatch);
  batch.push({ write, then });
}

function commitBatch(): void {
  const writes = batch;
  batch = [];
  db!.transaction(() => writes.forEach((w) => w.write()))();
  for (const w of writes) w.then();
}

function turnHeader(id: string) {
  const h = headers();
  h.set('Floor-Turn', id);
  return h;
}

const nc = await connect({ servers: process.env['NATS_URL'] });
nc.subscribe(subject, {
  queue: 'floor',
  callback: (err, msg) => {
    if (err) return;
    // A failure answers with an error body: the load generator counts it as a cut answer.
    answer(msg).catch((e: unknown) => msg.respond(JSON.stringify({ error: { message: String(e) } })));
  },
});
if (delivery)
  nc.subscribe(`${subject}.receipt`, {
    queue: 'floor',
    callback: (err, msg) => {
      if (err) return;
      const id = msg.string();
      inBatch(
        () => commit!.run(id),
        () => msg.respond(),
      );
    },
  });
await nc.flush();
process.send?.({ type: 'ready' });
const stop = () => {
  db?.close();
  process.exit(0);
};
process.once('SIGTERM', stop).once('SIGINT', stop).once('disconnect', stop);
