import t from 'tap';
import { startTestPostgres } from '../helpers/postgres.js';
import { startWorkerProcess, type TestProcess } from '../helpers/processes.js';
import { AUTH, chatTurn, startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// A PostgreSQL that refuses connections to the memory database, as an operator closes it for
// maintenance (ALLOW_CONNECTIONS false, then its sessions ended): every request is 503
// memory_unavailable naming DATABASE_URL, never a 500, and served again once it is open. On a
// private server of this test's own (never the machine's), with a real worker process.
const postgres = await startTestPostgres();
t.teardown(() => postgres.dispose());

const memoryLast = async (baseUrl: string, session: string) => {
  const res = await fetch(`${baseUrl}/memory/last?session=${session}&limit=5`, { headers: AUTH });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};

const streamed = async (baseUrl: string, session: string) => {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, 'x-session-id': session },
    body: JSON.stringify({ model: 'documentation', stream: true, messages: [{ role: 'user', content: 'More?' }] }),
  });
  return { status: res.status, text: await res.text() };
};

t.test('a database closed to connections: 503 memory_unavailable for chat and /memory/last, then served', async (t) => {
  const url = await postgres.createDatabase('closing');
  const stack = await startStack({ workerAgents: false, databaseUrl: url });
  t.teardown(() => stack.close());
  const worker: TestProcess = await startWorkerProcess(
    {
      NATS_URL: stack.natsUrl,
      OLLAMA_URL: stack.ollama.url,
      DATA_DIR: stack.dataDir,
      DEFAULT_MODEL: 'llama3.2',
      DATABASE_URL: url,
      MEMORY_PROBE_INTERVAL_MS: '200',
      BACKEND_PROBE_INTERVAL_MS: '0',
    },
    ['documentation'],
  );
  t.teardown(() => worker.kill());
  stack.ollama.behave({ tokens: ['Paris', '.'] });
  const first = await chatTurn(stack.baseUrl, 'Capital of France?');
  t.equal(first.status, 200);
  const session = first.body['conversation_id'] as string;
  t.equal((await memoryLast(stack.baseUrl, session)).status, 200);
  const calls = stack.ollama.requests.length;

  // What an operator runs: nobody may connect any more, and the sessions still open are ended.
  await postgres.superQuery('alter database closing allow_connections false');
  await postgres.superQuery("select pg_terminate_backend(pid) from pg_stat_activity where datname = 'closing'");

  const closedAdvice = /ALLOW_CONNECTIONS/;
  const unavailable = (what: string, status: number, error: unknown, advice = closedAdvice) => {
    t.equal(status, 503, what);
    t.match(
      error,
      {
        code: 'memory_unavailable',
        type: 'server_error',
        message: new RegExp(
          String.raw`DATABASE_URL \(postgres://agentbus:\*\*\*@127\.0\.0\.1:\d+/closing\): .*` + advice.source,
        ),
      },
      what,
    );
  };
  // At once, before the probe can have noticed: each request meets the closed database itself —
  // a pooled connection whose session was just ended (57P01, if its end was not read yet), or a new
  // one refused at connect time. Both are the same 503, with the advice of what it met.
  const closedOrEnded = /(ALLOW_CONNECTIONS|PostgreSQL ended the connection)/;
  const continued = await chatTurn(stack.baseUrl, 'Population?', session);
  unavailable('a continued chat, as the database refuses it', continued.status, continued.body['error'], closedOrEnded);
  const last = await memoryLast(stack.baseUrl, session);
  unavailable('/memory/last, as the database refuses it', last.status, last.body['error'], closedOrEnded);

  // The probe may first meet an ended session too; it reads the closed database on its next round.
  let reason = '';
  await waitFor('/ready to report the closed database', async () => {
    const res = await fetch(`${stack.baseUrl}/ready`);
    reason = ((await res.json()) as { reason?: string }).reason ?? '';
    return res.status === 503 && reason.includes('ALLOW_CONNECTIONS');
  });
  t.match(
    reason,
    /cannot write its memory \(database "closing" is not currently accepting connections; .*ALLOW_CONNECTIONS/,
  );

  // The probe failing, requests are refused by the worker before they reach the database.
  const fresh = await chatTurn(stack.baseUrl, 'Anyone there?');
  unavailable('a new chat', fresh.status, fresh.body['error']);
  const again = await chatTurn(stack.baseUrl, 'Population?', session);
  unavailable('a continued chat', again.status, again.body['error']);
  const stream = await streamed(stack.baseUrl, session);
  t.equal(stream.status, 503, 'a streamed chat is refused before its stream starts');
  unavailable('a streamed chat', stream.status, (JSON.parse(stream.text) as { error: unknown }).error);
  const lastAgain = await memoryLast(stack.baseUrl, session);
  unavailable('/memory/last', lastAgain.status, lastAgain.body['error']);
  t.equal(stack.ollama.requests.length, calls, 'the model was never asked');
  t.notOk(
    JSON.stringify([continued, last, fresh, again, stream, lastAgain]).includes(postgres.password),
    'no password in any answer',
  );

  await postgres.superQuery('alter database closing allow_connections true');
  await waitFor('/ready to be 200 again', async () => (await fetch(`${stack.baseUrl}/ready`)).status === 200);
  stack.ollama.behave({ tokens: ['About', ' 2M'] });
  const back = await chatTurn(stack.baseUrl, 'Population?', session);
  t.equal(back.status, 200, 'served again once the database takes connections');
  t.equal(back.body['meta'].memory_used, true, 'with its history');
  const listed = await memoryLast(stack.baseUrl, session);
  t.equal(listed.status, 200);
  t.same(
    (listed.body['data'] as { user_input: string }[]).map((turn) => turn.user_input),
    ['Population?', 'Capital of France?'],
    'no turn of the refused requests was stored',
  );
});
