import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { handleMemoryCommit } from '../../workers/memory-commit-handler.js';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { findTurn } from '../../workers/memory/delivery.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';
import { recordTurn } from '../../workers/memory/turns.js';
import { recordingLogger } from '../helpers/fake-provider.js';
import { newTurn } from '../helpers/turns.js';

// A worker of the memory queue group committing a delivered turn that its own worker left
// pending (killed between `done` and its commit), on a real SQLite database.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-commit-'));
const db = openMemoryDatabase(memoryDatabasePath(dir));
t.teardown(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});
await migrateToLatest(db);
const { log, lines } = recordingLogger();

const turn = (requestId: string) => newTurn({ requestId, sessionId: `conv_${requestId}` });
const receipt = (requestId: string, delivered = true) =>
  new TextEncoder().encode(JSON.stringify({ v: 2, request_id: requestId, delivered }));
function handle(data: Uint8Array) {
  const replies: Uint8Array[] = [];
  const outcome = handleMemoryCommit(
    { db, log },
    {
      data,
      reply: '_INBOX.gateway.memory.x',
      respond: (reply) => {
        replies.push(reply);
        return true;
      },
    },
  );
  return outcome.then((result) => ({ result, replies }));
}

t.test('a delivered pending turn is committed, once; the gateway gets its acknowledgement', async (t) => {
  await recordTurn(db, turn('chatcmpl-c1'), 'pending');
  const { result, replies } = await handle(receipt('chatcmpl-c1'));
  t.same(result, { ok: true });
  t.equal(replies.length, 1);
  t.equal((await findTurn(db, 'chatcmpl-c1'))?.state, 'committed');
  t.same((await handle(receipt('chatcmpl-c1'))).result, { ok: true }, 'again: nothing changes');
  t.equal((await findTurn(db, 'chatcmpl-c1'))?.state, 'committed');
});

t.test('an undelivered receipt commits nothing; an unknown request is acknowledged all the same', async (t) => {
  await recordTurn(db, turn('chatcmpl-c2'), 'pending');
  await handle(receipt('chatcmpl-c2', false));
  t.equal((await findTurn(db, 'chatcmpl-c2'))?.state, 'pending', 'left to its worker or the sweep');
  const { result, replies } = await handle(receipt('chatcmpl-never'));
  t.same(result, { ok: true });
  t.equal(replies.length, 1);
  // A delivered answer whose turn is gone (its worker gave up waiting) is said aloud.
  t.match(lines.at(-1), { level: 40, requestId: 'chatcmpl-never', msg: /discarded before its receipt came/ });
  const before = lines.length;
  await handle(receipt('chatcmpl-c2', false));
  await handle(receipt('chatcmpl-c1'));
  t.equal(lines.length, before, 'nothing to say of an undelivered one, or of a committed one');
});

t.test('an invalid receipt is refused without an acknowledgement', async (t) => {
  const { result, replies } = await handle(new TextEncoder().encode('{"nope": 1}'));
  t.equal(result.ok, false);
  t.equal(replies.length, 0);
});
