import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { AgentbusError, assertChatRequest, decodeReplyFrame, DEFAULT_SUBJECT_PREFIX, encodeJson, subjectsFor } from '../bus-schemas/index.js';

const USAGE = `usage: npm run bus:request -- <envelope.json | -> [--nats nats://127.0.0.1:4222] [--prefix agents]

Publishes a chat request envelope (docs/bus.md) on <prefix>.<intent>.chat and prints every
reply frame as one JSON line until the terminal frame and its empty sentinel.
Exit code: 0 after "done", 2 after an "error" frame, 1 when nothing answered.`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { nats: { type: 'string' }, prefix: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const source = positionals[0];
  if (values.help || !source) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 1;
  }
  const envelope = assertChatRequest(JSON.parse(readFileSync(source === '-' ? 0 : source, 'utf8')));
  const subject = subjectsFor(values.prefix ?? process.env['SUBJECT_PREFIX'] ?? DEFAULT_SUBJECT_PREFIX).chat(envelope.intent);
  const nc = await connect({ servers: values.nats ?? process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222' });
  try {
    // The sentinel strategy ends the iteration at the empty message that follows the terminal frame.
    const replies = await nc.requestMany(subject, encodeJson(envelope), { strategy: 'sentinel', maxWait: envelope.timeout_ms + 5000 });
    let exitCode = 1;
    for await (const msg of replies) {
      if (msg.data.length === 0) break; // the sentinel itself is yielded too
      const frame = decodeReplyFrame(msg.data);
      process.stdout.write(`${JSON.stringify(frame)}\n`);
      if (frame.type === 'done') exitCode = 0;
      if (frame.type === 'error') exitCode = 2;
    }
    return exitCode;
  } finally {
    await nc.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = err instanceof AgentbusError ? `${err.code}: ${err.message}` : (err as Error).message;
    process.stderr.write(`bus:request failed: ${message}\n`);
    process.exit(1);
  },
);
