import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { assertChatRequest, encodeJson, subjectsFor } from '../bus-schemas/index.js';
import { connectTool, describeFailure, exchangeEnvelope, natsUrlOf, subjectPrefixOf } from './lib/bus-exchange.js';

const USAGE = `usage: npm run bus:request -- <envelope.json | -> [--nats nats://127.0.0.1:4222] [--prefix agents]

Publishes a chat request envelope (docs/bus.md) on <prefix>.<intent>.chat and prints every
reply frame as one JSON line until the terminal frame and its empty sentinel.
On a locked-down bus it connects as the replay user (NATS_USER, NATS_PASSWORD[_FILE], NATS_TLS_*).
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
  const subject = subjectsFor(subjectPrefixOf(values.prefix)).chat(envelope.intent);
  const bus = await connectTool(natsUrlOf(values.nats));
  try {
    const outcome = await exchangeEnvelope(bus, subject, encodeJson(envelope), {
      maxWaitMs: envelope.timeout_ms + 5000,
    });
    return outcome === 'done' ? 0 : outcome === 'error' ? 2 : 1;
  } finally {
    await bus.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bus:request failed: ${describeFailure(err)}\n`);
    process.exit(1);
  },
);
