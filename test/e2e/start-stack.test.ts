import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from '../../scripts/lib/child-process.js';
import { startFakeOllama } from '../helpers/fake-ollama.js';
import { runStart, waitUntilGone } from '../helpers/npm-start.js';
import { commandLineOf } from '../../common/process-table.js';
import { AUTH } from '../helpers/stack.js';
import { goForwardWav } from '../helpers/pocketsphinx-testdata.js';
import { startTestNats } from '../helpers/nats.js';

const refuses = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

t.test(
  'npm start: bundled NATS on a free port when the configured one is taken, whole stack up, Ctrl-C stops all',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-start-'));
    const ollama = await startFakeOllama();
    // A stand-in for "a NATS the user already runs" on the port nats.conf names.
    const squatter = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    const takenPort = (squatter.address() as { port: number }).port;
    const conf = join(dir, 'nats.conf');
    writeFileSync(conf, readFileSync(join(ROOT, 'nats.conf'), 'utf8').replace(/^port: \d+/m, `port: ${takenPort}`));
    t.teardown(async () => {
      squatter.close();
      await ollama.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const env = {
      NATS_CONF: conf,
      PORT: '0',
      DATA_DIR: join(dir, 'data'),
      LOG_DIR: join(dir, 'logs'),
      OLLAMA_URL: ollama.url,
    };
    const stack = runStart(env, { teardown: t });
    await stack.waitFor(/press Ctrl-C to stop/);
    const out = stack.output();
    const moved = /port (\d+) from .* is already taken .* starts on port (\d+) instead/.exec(out);
    t.ok(moved, 'says the configured port is taken and which port it uses instead');
    t.equal(Number(moved?.[1]), takenPort);
    const natsPort = Number(moved?.[2]);
    t.not(natsPort, takenPort);
    t.match(out, /migrated \(20261122T0200-create-sessions-and-turns, 20261122T1500-add-tool-calls-user-metadata, /);
    t.match(
      out,
      /agents +bengali_nlp, code_generation, code_review, documentation, testing, deployment, voice_processor/,
    );
    t.match(out, new RegExp(`model +Ollama 0\\.6\\.0 at ${ollama.url} answers`));
    t.match(
      out,
      /API_KEYS is not set and the keys file .* lists no key: only the development key \\?"local-only\\?" is accepted/,
      'the dev key is announced with a warning',
    );
    const url = /gateway +(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    // The bundled server is locked down: a password per role under DATA_DIR, named by file, never printed.
    const workerFile = join(dir, 'data', 'nats-credentials', 'worker.password');
    // It repeats this stack's backend and data directory, so the added worker answers and remembers alike.
    t.match(
      out,
      `add workers: NATS_URL=nats://127.0.0.1:${natsPort} NATS_USER=worker NATS_PASSWORD_FILE=${workerFile} OLLAMA_URL=${ollama.url} DATA_DIR=${join(dir, 'data')} npm run worker -- --agents <names>`,
    );
    // The runtime users may not create streams: npm start creates them as the admin user first.
    t.match(
      out,
      /bus setup: audit stream AGENTBUS_AUDIT created\n.*bus setup: response cache bucket agentbus_responses ready \(TTL 30 s\)\n.*bus setup: rate limit bucket agentbus_rate_limits ready/,
    );
    t.notMatch(out, /npm run bus:setup|Permissions Violation/, 'so neither process finds anything missing');
    for (const role of ['gateway', 'worker', 'replay', 'admin']) {
      const password = readFileSync(join(dir, 'data', 'nats-credentials', `${role}.password`), 'utf8').trim();
      t.ok(password.length >= 40, `a generated ${role} password`);
      t.notMatch(out, password, `the ${role} password is not printed`);
    }

    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'bengali_nlp', messages: [{ role: 'user', content: 'নমস্কার' }] }),
    });
    t.equal(res.status, 200, 'a chat request goes through gateway → bundled NATS → worker → Ollama');
    t.same(ollama.requests.at(-1)!.messages.at(-1), { role: 'user', content: 'নমস্কার' });
    // Transcription crosses the locked-down server both ways: the request and its frames, and the
    // upload to the worker's own inbox (nats.conf lets the gateway publish there).
    t.match(out, /listen +pocketsphinx at \S+ transcribes US English/, 'it says transcription works');
    const upload = new FormData();
    upload.append('file', new Blob([new Uint8Array(goForwardWav())]), 'goforward.wav');
    upload.append('model', 'whisper-1');
    const heard = await fetch(`${url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: AUTH.authorization },
      body: upload,
    });
    t.same(
      [heard.status, await heard.json()],
      [200, { text: 'go forward ten meters', usage: { type: 'duration', seconds: 3 } }],
    );

    const pids = stack.pids();
    // Production runs compiled JavaScript: npm start's launcher built dist/ if it was stale, and
    // the supervisor started its children from there, with no TypeScript loader.
    for (const role of ['worker', 'gateway'] as const) {
      const argv = commandLineOf(pids[role]) ?? [];
      t.ok(
        argv.some((arg) => arg.endsWith(`dist/${role === 'worker' ? 'workers/main' : 'gateway/server'}.js`)),
        role,
      );
      t.notOk(argv.includes('tsx'), `the ${role} runs without tsx`);
    }
    t.notOk(commandLineOf(pids.supervisor)?.includes('tsx'), 'so does the supervisor');
    stack.child.kill('SIGINT');
    t.equal(await stack.exited, 0, 'Ctrl-C exits 0');
    t.same(await waitUntilGone(Object.values(pids)), [], 'supervisor, nats-server, worker and gateway are gone');
    t.ok(await refuses(Number(new URL(url).port)), 'gateway stopped');
    t.ok(await refuses(natsPort), 'bundled nats-server stopped');
    t.ok(!(await refuses(takenPort)), 'the other server on the configured port was left alone');

    // The next start, the configured port still taken: the same port as before, not a new one.
    const again = runStart(env, { teardown: t });
    await again.waitFor(/press Ctrl-C to stop/);
    t.match(again.output(), `port ${takenPort} from ${conf} is already taken`);
    t.match(again.output(), `starts on port ${natsPort} instead, as on the last start`, 'the chosen port is reused');
    t.match(again.output(), `add workers: NATS_URL=nats://127.0.0.1:${natsPort} `, 'the add-workers line still holds');
    again.child.kill('SIGINT');
    t.equal(await again.exited, 0);
  },
);

t.test(
  'npm start with NATS_URL uses that server, starts no nats-server of its own, and SIGTERM stops it all',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-start-'));
    const nats = await startTestNats();
    const ollama = await startFakeOllama();
    t.teardown(async () => {
      await ollama.close();
      await nats.dispose();
      rmSync(dir, { recursive: true, force: true });
    });
    const stack = runStart(
      {
        NATS_URL: nats.url,
        PORT: '0',
        DATA_DIR: join(dir, 'data'),
        LOG_DIR: join(dir, 'logs'),
        OLLAMA_URL: ollama.url,
      },
      { teardown: t },
    );
    await stack.waitFor(/press Ctrl-C to stop/);
    t.match(stack.output(), `using NATS at ${nats.url} (NATS_URL)`);
    t.notMatch(stack.output(), /nats-server started/);
    t.match(stack.output(), /voice +espeak-ng at \S+ speaks/, 'it says voice works');
    const url = /gateway +(http:\/\/127\.0\.0\.1:\d+)/.exec(stack.output())![1]!;
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'hi' }] }),
    });
    t.equal(res.status, 200);
    const pids = stack.pids();
    t.equal(pids.nats, undefined, 'no nats-server of its own');
    stack.child.kill('SIGTERM');
    t.equal(await stack.exited, 0, 'SIGTERM exits 0');
    t.same(await waitUntilGone(Object.values(pids)), [], 'supervisor, worker and gateway are gone');
    t.ok(await refuses(Number(new URL(url).port)), 'gateway stopped');
    t.ok(!(await refuses(nats.port)), "the user's NATS keeps running");
  },
);

t.test('npm start stops with a clear error, and starts nothing, when nats-server cannot be had', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-start-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stack = runStart({ NATS_SERVER_BIN: join(dir, 'no-such-nats-server'), PORT: '0', DATA_DIR: join(dir, 'data') });
  t.equal(await stack.exited, 1);
  t.match(
    stack.output(),
    /could not start: NATS_SERVER_BIN=.* is not an executable file\. Install it \(Debian\/Ubuntu: "sudo apt-get install nats-server"/,
  );
  t.notMatch(stack.output(), /agentbus is running/);
});

t.test('npm start refuses a bad setting before starting anything', async (t) => {
  const stack = runStart({ PORT: 'eighty', REQUEST_TIMEOUT_MS: '-5' });
  t.equal(await stack.exited, 1);
  t.match(stack.output(), /PORT="eighty" must be an integer/);
  t.match(stack.output(), /REQUEST_TIMEOUT_MS="-5" must be an integer/);
  t.notMatch(stack.output(), /nats-server started/);
});
