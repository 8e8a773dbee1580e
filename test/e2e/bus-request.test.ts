import { spawn } from 'node:child_process';
import t from 'tap';
import { ROOT } from '../../scripts/lib/child-process.js';
import { tenantOf } from '../../gateway/auth/bearer-auth.js';
import { startStack } from '../helpers/stack.js';
import { readFileSync } from 'node:fs';

const stack = await startStack();
t.teardown(() => stack.close());
const EXAMPLE = 'docs/examples/chat-request.json';

function busRequest(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bus-request.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

t.test('the documented example envelope is valid and belongs to the dev key', async (t) => {
  const envelope = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
  t.equal(envelope.tenant, tenantOf('local-only'));
});

t.test('replaying the example prints ack, deltas and done; a second replay stores no second turn', async (t) => {
  stack.ollama.behave({ tokens: ['Bug:', ' it', ' subtracts.'] });
  for (const round of [1, 2]) {
    const { code, stdout } = await busRequest([EXAMPLE, '--nats', stack.natsUrl]);
    t.equal(code, 0, `round ${round}: exit 0`);
    const frames = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    t.same(
      frames.map((f) => f.type),
      ['ack', 'delta', 'delta', 'delta', 'done'],
      `round ${round}: frame sequence`,
    );
    t.same(
      frames.map((f) => f.seq),
      [0, 1, 2, 3, 4],
    );
    t.ok(frames.every((f) => f.request_id === 'chatcmpl-docs-example-1'));
  }
  const rows = await stack.db
    .selectFrom('turns')
    .selectAll()
    .where('request_id', '=', 'chatcmpl-docs-example-1')
    .execute();
  t.equal(rows.length, 1, 'request id unique: the replay did not write twice');
  t.equal(rows[0]!.assistant_response, 'Bug: it subtracts.');
});

t.test('no worker for the intent → exit 1 and a clear message', async (t) => {
  const { code, stderr } = await busRequest([EXAMPLE, '--nats', stack.natsUrl, '--prefix', 'nobody-home']);
  t.equal(code, 1);
  t.match(stderr, /no responders/i);
});
