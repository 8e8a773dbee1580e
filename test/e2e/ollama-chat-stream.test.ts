import t from 'tap';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ollama } from 'ollama';
import { getGlobalDispatcher, MockAgent, setGlobalDispatcher } from 'undici';
import { createOllamaProvider } from '../../workers/providers/ollama/index.js';
import type { ProviderEvent } from '../../workers/providers/types.js';

// The Ollama provider's own /api/chat client (chat-stream.ts) against a server speaking
// Ollama's NDJSON: the same events and errors the `ollama` client gave.
let answer: (res: ServerResponse) => void = () => undefined;
let lastHeaders: IncomingHttpHeaders = {};
const server = createServer((req, res) => {
  lastHeaders = req.headers;
  req.resume();
  req.on('end', () => answer(res));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
t.teardown(
  () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
);
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const provider = createOllamaProvider({ url });
const ask = async (on = provider) => {
  const events: ProviderEvent[] = [];
  for await (const event of on.chat({
    model: 'm',
    messages: [{ role: 'user', content: 'hi' }],
    options: {},
    signal: new AbortController().signal,
  }))
    events.push(event);
  return events;
};
const line = (value: object) => `${JSON.stringify(value)}\n`;
const ndjson = (res: ServerResponse, ...lines: string[]) => {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  for (const l of lines) res.write(l);
  res.end();
};

t.test('deltas, then done with usage; lines that are not JSON are skipped', async (t) => {
  answer = (res) =>
    ndjson(
      res,
      line({ message: { role: 'assistant', content: 'Hel' }, done: false }),
      'not json\n',
      line({ message: { content: 'lo' }, done: false }),
      line({ message: { content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 3, eval_count: 2 }),
    );
  for (let i = 0; i < 3; i++) {
    t.same(await ask(), [
      { type: 'delta', content: 'Hel' },
      { type: 'delta', content: 'lo' },
      { type: 'done', finishReason: 'stop', usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } },
    ]);
  }
});

t.test('a count Ollama leaves out is estimated, not zero; one it sends is kept', async (t) => {
  const answerWith = (counts: object) => {
    answer = (res) =>
      ndjson(
        res,
        line({ message: { role: 'assistant', content: 'Hel' }, done: false }),
        line({ message: { content: 'lo there, friend' }, done: false }),
        line({ message: { content: '' }, done: true, done_reason: 'stop', ...counts }),
      );
  };
  // "hi": one token at four characters a token; the answer: 2 lines, but 19 characters are 5 tokens.
  answerWith({});
  t.same((await ask()).at(-1), {
    type: 'done',
    finishReason: 'stop',
    usage: { prompt_tokens: 1, completion_tokens: 5, total_tokens: 6 },
  });
  // A prompt all from Ollama's cache comes without prompt_eval_count.
  answerWith({ eval_count: 4 });
  t.match((await ask()).at(-1), { usage: { prompt_tokens: 1, completion_tokens: 4, total_tokens: 5 } });
  answerWith({ prompt_eval_count: 0, eval_count: 4 });
  t.match((await ask()).at(-1), { usage: { prompt_tokens: 0, completion_tokens: 4 } }, 'a zero it sent stays');
});

t.test('an error status: the JSON error text, the status, the missing-model hint', async (t) => {
  answer = (res) => {
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: 'model "m" not found, try pulling it first' }));
  };
  await t.rejects(ask(), { code: 'backend_model_not_found' });
  answer = (res) => {
    res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
  };
  await t.rejects(ask(), { code: 'backend_error', message: /answered HTTP 500: boom/ });
  answer = (res) => {
    res.writeHead(503).end();
  };
  await t.rejects(ask(), { code: 'backend_error', message: /HTTP 503: Error 503: Service Unavailable/ });
});

t.test('an error line mid-stream, and a stream without its done line, fail mid-answer', async (t) => {
  answer = (res) => ndjson(res, line({ message: { content: 'a' }, done: false }), line({ error: 'out of memory' }));
  await t.rejects(ask(), { code: 'backend_error', message: /failed mid-answer: out of memory/ });
  answer = (res) => ndjson(res, line({ message: { content: 'a' }, done: false }));
  await t.rejects(ask(), { code: 'backend_error', message: /Did not receive done/ });
});

t.test('nobody listening: backend_unreachable naming the socket error', async (t) => {
  const closed = createOllamaProvider({ url: 'http://127.0.0.1:1' });
  const events = closed.chat({
    model: 'm',
    messages: [{ role: 'user', content: 'hi' }],
    options: {},
    signal: new AbortController().signal,
  });
  await t.rejects(
    (async () => {
      for await (const e of events) void e;
    })(),
    { code: 'backend_unreachable', message: /ECONNREFUSED/ },
  );
});

t.test(
  "a socket that breaks off mid-answer: backend_error naming the socket error's code, as through fetch",
  async (t) => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(line({ message: { content: 'part' }, done: false }), () => res.socket?.destroy());
    };
    await t.rejects(ask(), {
      code: 'backend_error',
      message: `Ollama at ${url} (OLLAMA_URL) failed mid-answer: UND_ERR_SOCKET`,
    });
  },
);

t.test('OLLAMA_API_KEY: a bearer token for https://ollama.com only, as the ollama client sends it', async (t) => {
  const saved = process.env['OLLAMA_API_KEY'];
  t.teardown(() => {
    if (saved === undefined) delete process.env['OLLAMA_API_KEY'];
    else process.env['OLLAMA_API_KEY'] = saved;
  });
  const done = line({ message: { content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 1, eval_count: 1 });

  // What the ollama client sends to its cloud, caught at its fetch (no network).
  const clientSends = async () => {
    let sent: Record<string, string> = {};
    const client = new Ollama({
      host: 'https://ollama.com',
      fetch: async (_input, init) => {
        sent = init?.headers as Record<string, string>;
        return new Response(done, { headers: { 'content-type': 'application/x-ndjson' } });
      },
    });
    for await (const part of await client.chat({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    }))
      void part;
    return Object.fromEntries(Object.entries(sent).map(([k, v]) => [k.toLowerCase(), v]))['authorization'];
  };
  // What the undici path sends there, answered by undici's MockAgent (no network).
  const weSend = async () => {
    const previous = getGlobalDispatcher();
    const mock = new MockAgent();
    mock.disableNetConnect();
    setGlobalDispatcher(mock);
    let sent: Record<string, unknown> = {};
    mock
      .get('https://ollama.com')
      .intercept({ path: '/api/chat', method: 'POST' })
      .reply(
        200,
        (opts) => {
          sent = opts.headers as Record<string, unknown>;
          return done;
        },
        { headers: { 'content-type': 'application/x-ndjson' } },
      );
    try {
      await ask(createOllamaProvider({ url: 'https://ollama.com' }));
    } finally {
      setGlobalDispatcher(previous);
      await mock.close();
    }
    return sent['authorization'];
  };

  process.env['OLLAMA_API_KEY'] = 'k-123';
  t.equal(await clientSends(), 'Bearer k-123', 'the client sends the key to ollama.com');
  t.equal(await weSend(), 'Bearer k-123', 'so does the undici path');
  answer = (res) => ndjson(res, done);
  await ask();
  t.equal(lastHeaders.authorization, undefined, 'never to another server, here a local one');

  delete process.env['OLLAMA_API_KEY'];
  t.equal(await clientSends(), undefined, 'without the variable, no header from the client');
  t.equal(await weSend(), undefined, 'nor from the undici path');
});
