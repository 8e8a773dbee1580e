import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeMemoryResponseReply, encodeJson, PROTOCOL_VERSION } from '../../bus-schemas/index.js';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';
import { recordTurn } from '../../workers/memory/turns.js';
import { handleMemoryResponseQuery } from '../../workers/memory-response-handler.js';
import { recordingLogger } from '../helpers/fake-provider.js';
import { newTurn } from '../helpers/turns.js';

// A stored turn's refusal goes only to a gateway that asks for it: one from before would refuse the field.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-memresp-'));
const db = openMemoryDatabase(memoryDatabasePath(dir));
t.teardown(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});
await migrateToLatest(db);
await recordTurn(
  db,
  newTurn({ requestId: 'resp_r', sessionId: 'conv_r', assistantResponse: 'I cannot.', refusal: 'I cannot.' }),
);

const get = async (extra: Record<string, unknown>) => {
  let sent: Uint8Array | undefined;
  const query = { v: PROTOCOL_VERSION, request_id: 'memq-1', tenant: 'key_a', response_id: 'resp_r', op: 'get' };
  await handleMemoryResponseQuery(
    { db, log: recordingLogger().log },
    { data: encodeJson({ ...query, ...extra }), reply: '_INBOX.x', respond: (data) => ((sent = data), true) },
  );
  const reply = decodeMemoryResponseReply(sent!);
  return reply.type === 'turn' ? reply.turn : reply;
};

t.test('a refusal reaches a query with refusal_apart, and stays in the text for one without', async (t) => {
  t.match(await get({ refusal_apart: true }), { assistant_response: 'I cannot.', refusal: 'I cannot.' });
  const older = await get({});
  t.match(older, { assistant_response: 'I cannot.' });
  t.notOk('refusal' in older, "an older gateway's schema refuses the field");
});
