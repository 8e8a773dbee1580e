import { connect } from 'node:net';
import t from 'tap';
import { startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// HTTP/1.1 pipelining: a client may send its next request before the first is answered. Node
// queues the second response behind the first, with no socket of its own until the first ends; an
// answer that is ready first must wait there and go out whole, not be taken for a client that
// left (which would leave that client waiting for ever and its turn uncommitted).
const stack = await startStack();
t.teardown(() => stack.close());
const port = Number(new URL(stack.baseUrl).port);

function chatRequest(question: string, stream: boolean): string {
  const body = JSON.stringify({ model: 'documentation', stream, messages: [{ role: 'user', content: question }] });
  return (
    'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer local-only\r\n' +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/**
 * Sends `first`, then — once the model has it, so the fake's answers go in that order — `second` on
 * the same connection before the first is answered; resolves with what came back once `whole`
 * holds (5 s at most).
 */
function pipelined(first: string, second: string, whole: (text: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const asked = stack.ollama.requests.length;
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(first);
      waitFor('the first request to reach the model', () => stack.ollama.requests.length > asked).then(
        () => socket.write(second),
        () => socket.destroy(),
      );
    });
    const timer = setTimeout(() => socket.destroy(), 5_000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (whole(text)) socket.destroy();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

const stateOf = async (question: string) =>
  (await stack.db.selectFrom('turns').select('state').where('user_input', '=', question).executeTakeFirst())?.state;

for (const stream of [false, true]) {
  t.test(`a pipelined answer ready before the one ahead of it is sent after it (stream: ${stream})`, async (t) => {
    // The first answer is slow, the second fast: the second is ready while the first still holds the socket.
    stack.ollama.behaveInTurn([
      { tokens: ['slow'], firstTokenDelayMs: 600 },
      { tokens: ['fast'], firstTokenDelayMs: 0 },
    ]);
    const [first, second] = [`ahead ${stream}`, `behind ${stream}`];
    const answered = await pipelined(chatRequest(first, stream), chatRequest(second, stream), (text) =>
      stream
        ? (text.match(/data: \[DONE\]/g) ?? []).length === 2
        : (text.match(/"object":"chat.completion"/g) ?? []).length === 2,
    );
    t.same(answered.match(/HTTP\/1\.1 \d{3}/g), ['HTTP/1.1 200', 'HTTP/1.1 200'], 'both answered');
    t.ok(answered.indexOf('slow') < answered.indexOf('fast') && answered.includes('fast'), 'in request order');
    t.equal(await stateOf(first), 'committed');
    t.equal(await stateOf(second), 'committed', 'the answer that waited was delivered');
  });
}
